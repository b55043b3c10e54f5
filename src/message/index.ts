export { parseLine } from './parse.js';
export { formatLine, type FormatOptions } from './format.js';
export { IrcMessage, type IrcMessageInit } from './message.js';
export { parseTags, escapeTagValue, unescapeTagValue, type IrcTags } from './tags.js';
export { parseSource, type IrcSourceParts } from './source.js';
export { IRC_LIMITS, messageSizes, type IrcMessageSizes } from './limits.js';
export { casefold, sameName, type Casemapping, type CasemappingSource } from './casemap.js';
export { matchMask } from './mask.js';
export {
  Isupport,
  buildIsupport,
  escapeIsupportValue,
  unescapeIsupportValue,
  type IsupportValue,
  type ChanModes,
  type Prefix,
  type IsupportBuildOptions,
} from './isupport.js';
export { decodeCtcp, encodeCtcp, isCtcp, type Ctcp } from './ctcp.js';
export { isValidNick, isValidChannel, isValidHostname, type NameRules } from './names.js';
export { stsValue, stsValueFor, type StsPolicy } from './sts.js';
