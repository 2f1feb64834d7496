// The one error of the data loaders: a missing or malformed data file, named with what was expected.

/** Raised for a missing or malformed data file; the message names the file and what was expected. */
export class DataError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'DataError';
  }
}
