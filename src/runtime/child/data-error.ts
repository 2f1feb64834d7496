// The one error of the data loaders: a missing or malformed data file, named with what was expected.
import { NosError } from '../../errors';

/** Raised for a missing or malformed data file; the message names the file and what was expected. */
export class DataError extends NosError {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`, 2);
  }
}
