// `nos compile` (and the `nos-compile` bin): a rule, a rule name or a token form to kernel source, IR, tokens, LaTeX or JSON.
import * as fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { compileRule, type RuleInfo } from '../../compiler/analyze';
import { encodeTokens, printTokens } from '../../compiler/tokens';
import { printLatex } from '../../compiler/print';
import { topoOrder, type Node } from '../../compiler/ir';
import { renderRule } from '../../compiler/render';
import { exportRule } from '../../export';
import { KERNEL_ABI_VERSION } from '../../compiler/kernel-abi';
import { InputError } from '../../errors';

export const EMIT_KINDS = ['cuda', 'cpu', 'js', 'ir', 'tokens', 'latex', 'json', 'pytorch', 'tfjs'] as const;
export type EmitKind = (typeof EMIT_KINDS)[number];

/** Bad input that is no syntax error (a rule with no token form for --emit tokens, an empty standard input): exit 2. */
function parseEmit(text: string): EmitKind {
  if (!(EMIT_KINDS as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`expected one of ${EMIT_KINDS.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return text as EmitKind;
}

/** The IR as one SSA line per node in evaluation order (numbered from %1), the last line naming the rule's value. */
export function printIr(root: Node): string {
  const order = topoOrder(root);
  const number = new Map(order.map((n, k) => [n.id, k + 1]));
  const ref = (n: Node): string => `%${number.get(n.id)}`;
  const lines = order.map((n) => {
    let rhs: string;
    switch (n.kind) {
      case 'input': rhs = `input ${n.name}`; break;
      case 'const': rhs = `const ${n.value}`; break;
      case 'decay': rhs = n.name === 'ld' ? 'decay ld' : `decay ${n.name}(${n.n})`; break;
      case 'noise': rhs = `${n.annealed ? 'anoise' : 'noise'} site=${n.site}`; break;
      case 'unary':
        rhs = `${n.op} ${ref(n.arg)}${n.op === 'clip' ? ` bound=${n.param}` : ''}${n.op === 'drop' ? ` p=${n.param} site=${n.site}` : ''}`;
        break;
      case 'binary': rhs = `${n.op} ${ref(n.left)} ${ref(n.right)}`; break;
    }
    return `${ref(n)} = ${rhs}`;
  });
  lines.push(`rule = ${ref(root)}`);
  return lines.join('\n');
}

function tokensOrNull(info: RuleInfo): string | null {
  try {
    return printTokens(encodeTokens(info.root));
  } catch {
    return null;
  }
}

/** The text `--emit kind` prints for `rule`; throws NosSyntaxError on a bad rule. */
export function compileOutput(rule: string, emit: EmitKind): string {
  const info = compileRule(rule);
  switch (emit) {
    case 'cpu': case 'cuda': case 'js': return renderRule(info, emit);
    case 'pytorch': case 'tfjs': return exportRule(info, emit);
    case 'ir': return printIr(info.root);
    case 'latex': return printLatex(info.root);
    case 'tokens':
      try {
        return printTokens(encodeTokens(info.root));
      } catch (e) {
        throw new InputError(`${(e as Error).message} (rule: ${info.canonical})`);
      }
    case 'json':
      return JSON.stringify({
        source: info.source,
        canonical: info.canonical,
        hash: info.hash,
        state: info.state,
        bytesPerParam: info.bytesPerParam,
        flopsPerElement: info.flopsPerElement,
        decays: info.decays,
        randomSites: info.randomSites,
        usesNoise: info.usesNoise,
        usesAnnealedNoise: info.usesAnnealedNoise,
        tokens: tokensOrNull(info),
        latex: printLatex(info.root),
        kernelAbiVersion: KERNEL_ABI_VERSION,
      }, null, 2);
  }
}

/** The rule from standard input (`nos-compile - < rule.txt`): its whole text, without the trailing newline. */
function ruleFromStdin(): string {
  let text: string;
  try {
    text = fs.readFileSync(0, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read the rule from standard input (${(e as Error).message})`);
  }
  if (text.trim() === '') throw new InputError('standard input holds no rule (the rule argument - reads it from there)');
  return text.replace(/\s+$/, '');
}

/** Adds the rule argument and --emit to `command` and its action (printing to stdout). */
export function configureCompileCommand(command: Command): Command {
  return command
    .argument('<rule...>', 'an infix rule ("exp(sign(g)*sign(m))*g"), a rule name (powersign, adam, table6-15) or controller tokens; - reads it from standard input')
    .option('-e, --emit <kind>', `what to print: ${EMIT_KINDS.join(', ')}`, parseEmit, 'json' as EmitKind)
    // "-g + m" reads as an unknown option: say how to pass such a rule.
    .showHelpAfterError('(run with --help for usage; a rule that starts with \'-\' goes after --: nos-compile --emit ir -- "-g + m")')
    .addHelpText('after', `
Examples:
  $ nos-compile powersign --emit cpu
  $ nos-compile "drop(m, 0.3)*exp(1e-3*w)" --emit json
  $ nos-compile "sign_g sign_m id id mul | o1 g exp id mul" --emit latex
  $ nos-compile powersign --emit pytorch     (the optimizer file nos export writes)
  $ nos-compile --emit ir -- "-g + m"          (a rule that starts with '-' goes after --)
  $ nos-compile - --emit cuda < rule.txt       (- reads the rule from standard input)

Exit codes: 0 success, 2 bad rule or flag, 1 anything else.`)
    .action((words: string[], flags: { emit: EmitKind }) => {
      const text = compileOutput(words.length === 1 && words[0] === '-' ? ruleFromStdin() : words.join(' '), flags.emit);
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });
}

export function register(program: Command): void {
  configureCompileCommand(program.command('compile').description('compile an update rule to kernel source, IR, tokens, LaTeX, JSON, or a PyTorch or TensorFlow.js optimizer'));
}
