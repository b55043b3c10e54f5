/**
 * The public ircdocs parser vectors, read at test time from `../shared/parser-tests`
 * beside the repository (never copied into it). When the folder is absent, tests
 * skip with {@link PARSER_TESTS_SKIP} instead of failing.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const PARSER_TESTS_SKIP = '../shared/parser-tests not found: skipping the public parser vectors';

/** The repository root: the nearest folder above this file that holds a package.json. */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Where the vectors live: `<repo>/../shared/parser-tests`. */
export const PARSER_TESTS_DIR = path.resolve(findRepoRoot(), '..', 'shared', 'parser-tests');

/** `false` when the vectors are there, else the message to pass as node:test's `skip`. */
export const parserTestsSkip: string | false = existsSync(PARSER_TESTS_DIR) ? false : PARSER_TESTS_SKIP;

export interface MsgSplitVector {
  input: string;
  atoms: {
    tags?: Record<string, string>;
    source?: string;
    verb: string;
    params?: string[];
  };
}

export interface MsgJoinVector {
  desc?: string;
  atoms: {
    tags?: Record<string, string>;
    source?: string;
    verb: string;
    params?: string[];
  };
  matches: string[];
}

export interface UserhostSplitVector {
  source: string;
  atoms: { nick?: string; user?: string; host?: string };
}

export interface MaskMatchVector {
  mask: string;
  matches?: string[];
  fails?: string[];
}

export interface HostnameVector {
  host: string;
  valid: boolean;
}

export interface VectorFiles {
  'msg-split.yaml': MsgSplitVector;
  'msg-join.yaml': MsgJoinVector;
  'userhost-split.yaml': UserhostSplitVector;
  'mask-match.yaml': MaskMatchVector;
  'validate-hostname.yaml': HostnameVector;
}

/**
 * The `tests` list of one vector file, or `[]` when the folder is absent (the
 * caller's tests are then skipped with `parserTestsSkip`).
 */
export function loadVectors<F extends keyof VectorFiles>(file: F): VectorFiles[F][] {
  if (parserTestsSkip !== false) return [];
  const doc = parse(readFileSync(path.join(PARSER_TESTS_DIR, file), 'utf8')) as { tests?: VectorFiles[F][] } | null;
  const tests = doc?.tests;
  if (!Array.isArray(tests) || tests.length === 0) throw new Error(`${file} holds no tests`);
  return tests;
}
