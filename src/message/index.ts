export { parseLine } from './parse.js';
export { formatLine, type FormatOptions } from './format.js';
export { IrcMessage, type IrcMessageInit } from './message.js';
export { parseTags, escapeTagValue, unescapeTagValue, type IrcTags } from './tags.js';
export { parseSource, type IrcSourceParts } from './source.js';
export { IRC_LIMITS, messageSizes, type IrcMessageSizes } from './limits.js';
export { casefold, sameName, type Casemapping } from './casemap.js';
export { matchMask } from './mask.js';
export { stsValue, stsValueFor, type StsPolicy } from './sts.js';
