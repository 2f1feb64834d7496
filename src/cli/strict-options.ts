// Checks commander does not make on any option: given twice, or followed by a flag instead of its value (exit 2).
// Its own file so that nos-compile loads no more than commander for it.
import type { EventEmitter } from 'node:events';
import type { Command } from 'commander';

/** A word that is a flag, not a value: `--out --no-progress` forgot the folder (a path that starts with - is ./-x). */
function isFlag(word: string): boolean {
  return word.startsWith('--') || /^-[A-Za-z]$/.test(word);
}

/**
 * On `command` and all its subcommands, an option that takes a value is a flag error (exit 2) when it is given twice
 * (`--budget 1 --budget 2` silently ran 2) or when its value is another flag (`--out --no-progress` made a folder
 * named --no-progress). Call once the options are defined; commander stores the value after these checks.
 */
export function strictOptions(command: Command): Command {
  const given = new Map<string, string>();
  for (const option of command.options) {
    if (!option.required && !option.optional) continue; // a switch given twice means the same
    const name = option.name();
    // Before commander's own listener, which parses and stores the value (commander's Command is an EventEmitter).
    (command as unknown as EventEmitter).prependListener(`option:${name}`, (value: unknown) => {
      if (typeof value === 'string' && isFlag(value)) {
        command.error(`error: option '${option.flags}' is missing its value: '${value}' is a flag`, { exitCode: 2, code: 'nos.optionMissingValue' });
      }
      const before = given.get(name);
      if (before !== undefined && !option.variadic) {
        command.error(`error: option '${option.flags}' is given twice (${JSON.stringify(before)}, then ${JSON.stringify(value)}): give it once`, { exitCode: 2, code: 'nos.optionRepeated' });
      }
      given.set(name, typeof value === 'string' ? value : '');
    });
  }
  for (const sub of command.commands) strictOptions(sub);
  return command;
}
