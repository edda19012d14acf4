// Public face of @tsmtpd/config: the validated configuration model (model.ts), the smtpd.conf
// loader (`loadConfig`, `parseConfigText`), table files (`readTableFile`) and unit helpers.
export * from './model.js';
export { loadConfig, parseConfigText, defaultServerName, legacyWarning, type LoadOptions, type LoadResult, type LegacyRead } from './load.js';
export { readTableFile, readTableFileSync, parseTableText, TableFileError, type TableContent, type TableParseResult } from './tables.js';
export { TableDb, checkTableDb, writeTableDb, isBerkeleyDbFile, TABLE_DB_APPLICATION_ID, type TableDbKind, type TableDbCheck } from './table-db.js';
export { TABLE_BACKEND_DIR } from './parse-globals.js';
export { parseDuration, parseSize } from './units.js';
export { resolveListenTarget, systemNetEnv, LOOKUP_TIMEOUT_MS, type NetEnv } from './resolve.js';
export { parseRelayUrl } from './parse-action.js';
export { MTA_LIMIT_KEYS } from './parse-globals.js';
export { KEYWORDS } from './lexer.js';
export { translateLegacyConfig, translateFileSet, modernRelayUrl, type LegacyTranslation } from './legacy.js';
export { readFileSet, scanGrammar, type Grammar, type GrammarScan, type FileSet } from './grammar.js';
export { parseTlsProtocols, listenerPkis, DEFAULT_TLS_RANGE, type TlsVersion } from './tls-options.js';
export { parseReloadOrder, type ParsedReload } from './reload-order.js';
