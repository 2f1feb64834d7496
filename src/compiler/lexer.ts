// Lexer for the infix rule language: splits text into numbers, names, operators and punctuation with their offsets.

import { NosSyntaxError } from './errors';

/** Inputs longer than this are refused before lexing (documented in docs/compiler.md). */
export const MAX_INPUT_LENGTH = 4096;

export type TokenType = 'number' | 'name' | '(' | ')' | ',' | '+' | '-' | '*' | '/' | '^' | '@' | 'end';

export interface Token {
  type: TokenType;
  /** The characters of the token as written ('' for end). */
  text: string;
  /** Numeric value of a number token (NaN for others). */
  value: number;
  offset: number;
}

const SINGLE: Record<string, TokenType> = {
  '(': '(', ')': ')', ',': ',', '+': '+', '-': '-', '*': '*', '/': '/', '^': '^', '@': '@',
};
/** Characters pasted from the paper's typography, and what to write instead. */
const LOOKALIKES: Record<string, string> = {
  '\u2212': "'-'", '\u2013': "'-'", '\u2217': "'*'", '\u00d7': "'*'", '\u00b7': "'*'", '\u22c5': "'*'",
  '\u03b5': "'noise'", '\u221a': "'sqrt(x)'", '\u00f7': "'/'", '[': "'('", ']': "')'", '{': "'('", '}': "')'", '|': "'sqrt(x)' or 'log(x)' (they take |x|); '|' separates token groups only in the token form",
};
const NUMBER = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const EXPONENT_START = /[eE][+-]?(?!\d)/y;

/** Tokens of `source`, ending with one 'end' token; throws NosSyntaxError on a character it does not know. */
export function lex(source: string): Token[] {
  if (source.length > MAX_INPUT_LENGTH) {
    throw new NosSyntaxError('too-long',
      `rule text is ${source.length} characters long; the limit is ${MAX_INPUT_LENGTH}`, source, MAX_INPUT_LENGTH, 1);
  }
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i];
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') { i++; continue; }
    if (SINGLE[ch]) {
      tokens.push({ type: SINGLE[ch], text: ch, value: NaN, offset: i });
      i++;
      continue;
    }
    if ((ch >= '0' && ch <= '9') || (ch === '.' && /\d/.test(source[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(source)!;
      const end = i + match[0].length;
      // "1e" or "1e-" followed by no digit is a malformed exponent, not a number followed by the name e.
      EXPONENT_START.lastIndex = end;
      if (EXPONENT_START.exec(source) && !/[A-Za-z0-9_]/.test(source[EXPONENT_START.lastIndex] ?? '')) {
        throw new NosSyntaxError('bad-number', `malformed number '${source.slice(i, EXPONENT_START.lastIndex)}': the exponent has no digits`,
          source, i, EXPONENT_START.lastIndex - i);
      }
      const value = Number(match[0]);
      // The kernels compute in float32: a literal that is infinite or rounds to 0 there would silently be inf or 0.
      const single = Math.fround(value);
      const nonZero = /[1-9]/.test(match[0].split(/e/i)[0]); // 1e-999 is 0 even as a double
      if (!Number.isFinite(single) || (single === 0 && nonZero)) {
        const why = single === 0 ? 'it rounds to 0 in float32, whose smallest is about 1.4e-45' : 'float32, which the kernels compute in, reaches about 3.4e+38';
        throw new NosSyntaxError('bad-number', `number '${match[0]}' is out of range (${why})`, source, i, match[0].length);
      }
      tokens.push({ type: 'number', text: match[0], value, offset: i });
      i = end;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      NAME.lastIndex = i;
      const match = NAME.exec(source)!;
      tokens.push({ type: 'name', text: match[0], value: NaN, offset: i });
      i += match[0].length;
      continue;
    }
    const code = source.codePointAt(i)!;
    const char = String.fromCodePoint(code);
    const shown = code < 32 || code === 127 ? `\\u${code.toString(16).padStart(4, '0')}` : char;
    const hint = LOOKALIKES[char] ? ` (write ${LOOKALIKES[char]})` : '';
    throw new NosSyntaxError('unexpected-char', `unexpected character '${shown}'${hint}`, source, i, char.length);
  }
  tokens.push({ type: 'end', text: '', value: NaN, offset: source.length });
  return tokens;
}
