export { handOff, type HandoffOptions, type HandoffResult } from './sender.js';
export { receiveHandoff, isHandoffSuccessor, HandoffReceiver, type ReceiveOptions, type AdoptOptions, type AdoptResult } from './receiver.js';
export { HANDOFF_VERSION } from './protocol.js';
