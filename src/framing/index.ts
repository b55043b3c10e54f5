export { LineDecoder, type LineDecoderOptions, type DecodedLine } from './line-decoder.js';
