export { LineDecoder, type LineDecoderOptions, type DecodedLine } from './line-decoder.js';
export { encodeText, textByteLength, decodeEscaped, decodeLegacy } from './text.js';
