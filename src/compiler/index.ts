// The compiler's public surface: re-exports every public module (the back end appends its own export lines below).

export * from './ir';
export * from './kernel-abi';
export * from './errors';
export * from './lexer';
export * from './parse-infix';
export * from './tokens';
export * from './rewrite-rules';
export * from './simplify';
export * from './print';
export * from './canonical';
export * from './named-rules';
export * from './analyze';
// back end (op table, kernel schedule, dialects and render targets, reference interpreter, decays, Philox)
export * from './ops';
export * from './schedule';
export * from './dialect';
export * from './render';
export * from './interpret';
export * from './decays';
export * from './philox';
