// `nos export RULE --to pytorch|tfjs [--out FILE] [--fused] [--class NAME]`: a rule as another framework's optimizer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { EXPORT_TARGETS, classNameProblem, exportRule, type ExportTarget } from '../../export';
import { compileRule } from '../../compiler/analyze';
import { describeFsError, InputError, isPlaceError } from '../../errors';
import { WriteError } from '../../search/checked-write';
import { searchRanking } from '../../search/ranked-rules';
import { integer, nonBlank } from '../flags';

function parseTarget(text: string): ExportTarget {
  if (!(EXPORT_TARGETS as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`expected one of ${EXPORT_TARGETS.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return text as ExportTarget;
}

function parseClassName(text: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) throw new InvalidArgumentError(`a class name is letters, digits and _ (not first a digit), got ${JSON.stringify(text)}`);
  return text;
}

interface ExportFlags { to: ExportTarget; out?: string; fused?: boolean; className?: string }

/** The exported source; bad input (a rule, --fused for tfjs) is an InputError (exit 2). */
export function exportOutput(rule: string, flags: ExportFlags): string {
  if (flags.fused && flags.to !== 'pytorch') throw new InputError('--fused is for --to pytorch (TensorFlow.js runs its own kernels)');
  const problem = flags.className === undefined ? undefined : classNameProblem(flags.className, flags.to);
  if (problem) throw new InputError(`--class ${flags.className}: ${problem}`);
  return exportRule(compileRule(rule), flags.to, { fused: flags.fused, className: flags.className });
}

/** Writes the export to `out` (the folder must exist) or stdout (no --out, or `-`). */
function write(text: string, out: string | undefined, what: string): void {
  if (out === undefined || out === '-') {
    process.stdout.write(text);
    return;
  }
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir)) throw new InputError(`--out ${out}: the folder ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new InputError(`--out ${out}: ${dir} is a file, not a folder`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new InputError(`--out ${out}: is a folder; name the file to write`);
  try {
    fs.writeFileSync(out, text);
  } catch (e) {
    // A place the user cannot write is bad input (2); a full disk or an I/O error is a failed write (1).
    if (isPlaceError(e)) throw new InputError(`--out ${out}: cannot write the file: ${describeFsError(e)}`);
    throw new WriteError(out, e);
  }
  process.stderr.write(`wrote ${what} to ${out}\n`);
}

/**
 * The rule ranked `rank` in the search folder `dir`: by the mean over seeds where the search confirmed its top rules
 * (what its last table ranks), else by the search seed's reward. Bad input (no search there, a rank past the end)
 * is an InputError.
 */
export function rankedRule(dir: string, rank: number): { rule: string; why: string } {
  const { rules, confirmed } = searchRanking(dir);
  if (rank > rules.length) throw new InputError(`--rank ${rank}: the search in ${dir} ranks ${rules.length} rule${rules.length === 1 ? '' : 's'}${confirmed ? ' (confirmed with more seeds)' : ''}`);
  const { rule, score } = rules[rank - 1];
  return { rule, why: `rank ${rank} of ${dir}${confirmed ? ', confirmed' : ''}: ${rule} (${score})` };
}

export function register(program: Command): void {
  program.command('export')
    .description('write a rule as an optimizer of another framework: a torch.optim.Optimizer (Python) or a TensorFlow.js tf.Optimizer (JS)')
    .argument('[rule...]', 'an infix rule, a rule name (powersign, addsign-ld, table6-05) or controller tokens (or --from)')
    .requiredOption('--to <framework>', `${EXPORT_TARGETS.join(' | ')}`, parseTarget)
    .option('-o, --out <file>', 'write the file here (default, or -: standard output)', nonBlank('--out', 'a file'))
    .option('--fused', 'pytorch: also carry the rule\'s fused C++/CUDA kernel, built by torch.utils.cpp_extension.load_inline')
    .option('--class <name>', 'the optimizer class\'s name (default from the rule: powersign -> NosPowerSign)', parseClassName)
    .option('--from <dir>', 'take the rule from a search folder\'s leaderboard instead (the confirmed ranking where there is one)', nonBlank('--from', 'a folder'))
    .option('--rank <k>', 'with --from: which rule of the leaderboard (default 1, the best)', integer('--rank', 1))
    .showHelpAfterError('(run with --help for usage; a rule that starts with \'-\' goes after --)')
    .addHelpText('after', `
Examples:
  $ nos export powersign --to pytorch --out nos_power_sign.py
  $ nos export addsign-ld --to tfjs --out nos_add_sign_ld.js
  $ nos export "exp(sign(g)*sign(m))*g" --to pytorch --fused --class FusedPowerSign
  $ nos export --from runs/20261203-073459Z --to pytorch --out best.py   (the search's best rule)

Exit codes: 0 success, 2 bad rule, flag or file, 1 anything else.`)
    .action((words: string[], flags: { to: ExportTarget; out?: string; fused?: boolean; class?: string; from?: string; rank?: number }) => {
      if (flags.from !== undefined && words.length > 0) throw new InputError(`give a rule or --from ${flags.from}, not both`);
      if (flags.from === undefined && words.length === 0) throw new InputError('give the rule to export (a name, infix text or tokens), or --from a search folder');
      if (flags.rank !== undefined && flags.from === undefined) throw new InputError('--rank picks a rule of --from\'s leaderboard: give --from too');
      let rule = words.join(' ');
      if (flags.from !== undefined) {
        const ranked = rankedRule(flags.from, flags.rank ?? 1);
        process.stderr.write(`${ranked.why}\n`);
        rule = ranked.rule;
        try {
          compileRule(rule);
        } catch (e) {
          // nos records only rules it compiled: this one was written into the ledger from outside.
          throw new InputError(`${flags.from}: the ledger's rule ${JSON.stringify(rule)} does not compile (${(e as Error).message}); was ledger.jsonl edited?`);
        }
      }
      const text = exportOutput(rule, { to: flags.to, fused: flags.fused, className: flags.class });
      const name = /^(?:# |\/\/ )(\w+):/.exec(text)?.[1] ?? 'the optimizer';
      write(text, flags.out, `${name} (${flags.to}${flags.fused ? ', fused' : ''})`);
    });
}
