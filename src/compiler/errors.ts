// NosSyntaxError: the one error type of the compiler front end, positioned in its source text and printed with a caret.
import { NosError } from '../errors';

/** What went wrong, as a stable code that tests and tools can match on. */
export type SyntaxErrorKind =
  | 'empty'            // nothing but whitespace
  | 'too-long'         // input longer than MAX_INPUT_LENGTH
  | 'too-deep'         // nesting or expression depth over the documented limits
  | 'unexpected-char'  // a character the lexer does not know
  | 'bad-number'       // a number that does not parse or is not finite
  | 'unbalanced'       // a '(' never closed or a ')' never opened
  | 'unknown-name'     // a name that is not an operand or function (a suggestion is given when one is close)
  | 'arity'            // wrong number of arguments, or a function used without its argument list
  | 'range'            // a parameter out of its range (clip bound, drop probability, decay periods)
  | 'expected'         // the parser needed something else here (an operand, an operator, a ',')
  | 'trailing'         // text left after a complete expression
  | 'token';           // a controller token form that does not decode

/** 1-based line and column of a character offset (the column counts UTF-16 units from the line start). */
export function lineAndColumn(source: string, offset: number): { line: number; column: number; lineStart: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(offset, 0), source.length);
  for (let i = 0; i < end; i++) {
    if (source.charCodeAt(i) === 10) { line++; lineStart = i + 1; }
  }
  return { line, column: end - lineStart + 1, lineStart };
}

export class NosSyntaxError extends NosError {
  readonly kind: SyntaxErrorKind;
  /** 0-based character offset of the offending text in `source` (source.length means "at the end"). */
  readonly offset: number;
  /** How many characters the caret underlines (at least 1). */
  readonly length: number;
  readonly line: number;
  readonly column: number;
  readonly source: string;

  constructor(kind: SyntaxErrorKind, message: string, source: string, offset: number, length = 1) {
    super(message, 2);
    this.kind = kind;
    this.source = source;
    this.offset = Math.min(Math.max(offset, 0), source.length);
    this.length = Math.max(1, length);
    const at = lineAndColumn(source, this.offset);
    this.line = at.line;
    this.column = at.column;
  }

  /** The message, the source line it points into, and a caret (^^^) under the offending text. */
  format(): string {
    const { lineStart } = lineAndColumn(this.source, this.offset);
    let lineEnd = this.source.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = this.source.length;
    // Long lines are cut to a window around the caret so the caret stays readable.
    const WINDOW = 100;
    let from = lineStart;
    let to = lineEnd;
    if (to - from > WINDOW) {
      from = Math.max(lineStart, this.offset - WINDOW / 2);
      to = Math.min(lineEnd, from + WINDOW);
    }
    const prefix = from > lineStart ? '...' : '';
    const suffix = to < lineEnd ? '...' : '';
    // Control characters (tabs, a '\r' of CRLF text, bells) print as spaces so the caret stays under its column.
    const text = this.source.slice(from, to).replace(/[\u0000-\u001f\u007f]/g, ' ');
    const caretAt = prefix.length + (this.offset - from);
    const caretLength = Math.max(1, Math.min(this.length, to - this.offset + 1));
    return (
      `${this.message} (line ${this.line}, column ${this.column})\n` +
      `  ${prefix}${text}${suffix}\n` +
      `  ${' '.repeat(caretAt)}${'^'.repeat(caretLength)}`
    );
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a small distance (ties: the first listed), or null when none is close. */
export function nearestName(name: string, candidates: readonly string[]): string | null {
  const lower = name.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) { best = candidate; bestDistance = d; }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(name.length / 2)));
  return bestDistance <= allowed ? best : null;
}

/** " (did you mean 'x'?)" or "" */
export function suggestion(name: string, candidates: readonly string[]): string {
  const near = nearestName(name, candidates);
  return near ? ` (did you mean '${near}'?)` : '';
}
