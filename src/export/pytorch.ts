// nos export --to pytorch: a rule as a self-contained torch.optim.Optimizer subclass in one Python file.
//
// The step is written from the rule's kernel schedule (compiler/schedule.ts) twice: one tensor at a time and, for
// `foreach`, over lists of tensors; per-step values (bias corrections, decays, select tables) are Python floats.
// With `fused`, the file also carries the rule's C++ kernel (and its CUDA kernel) as a torch extension built by
// torch.utils.cpp_extension.load_inline: the same fused pass and the same Philox draws as nos (fused-extension.ts).
import type { RuleInfo } from '../compiler/analyze';
import { emitElementReads, emitInstr, SCALAR_LOCALS } from '../compiler/dialect';
import { KERNEL_ABI_VERSION, OPTIMIZER_DEFAULTS as D } from '../compiler/kernel-abi';
import { scheduleKernel, type KernelSchedule } from '../compiler/schedule';
import { pythonHelpers } from './python-helpers';
import { PythonScalarDialect, TorchDialect, TorchForeachDialect } from './torch-dialects';
import { fusedExtension } from './fused-extension';
import { describeLines } from './describe';

export interface PytorchExportOptions {
  /** The optimizer class's name (a Python identifier). */
  className: string;
  /** Also carry the fused C++/CUDA kernel (a load_inline extension); `fused=True` is then the default. */
  fused?: boolean;
  /** The nos version named in the file's header. */
  version: string;
}

/** A default as Python writes it: 1e-3, (0.9, 0.999, 0.999), True. */
function py(x: number | boolean | readonly number[]): string {
  if (typeof x === 'boolean') return x ? 'True' : 'False';
  if (typeof x === 'number') return x !== 0 && Math.abs(x) < 0.01 ? x.toExponential() : String(x);
  return `(${x.map(py).join(', ')})`;
}

const indent = (lines: string[], pad: string): string => lines.filter((l) => l.length > 0).map((l) => pad + l).join('\n');

/** The per-step statements: the scalars the rest uses (only those), then the schedule's per-step values. */
function prologue(s: KernelSchedule, rest: string): string[] {
  const d = new PythonScalarDialect();
  const values = s.step.flatMap((x) => emitInstr(d, x));
  const scalars = d.scalarDecls();
  // Keep a scalar when later code names it (a scalar may name another: ibc1 reads b1).
  const used = new Set<string>();
  const text = [...values, rest].join('\n');
  for (let k = SCALAR_LOCALS.length - 1; k >= 0; k--) {
    const [name] = SCALAR_LOCALS[k];
    const later = [text, ...scalars.slice(k + 1).filter((_, j) => used.has(SCALAR_LOCALS[k + 1 + j][0]))].join('\n');
    if (new RegExp(`\\b${name}\\b`).test(later)) used.add(name);
  }
  return [...scalars.filter((_, k) => used.has(SCALAR_LOCALS[k][0])), ...values];
}

/** The element statements of the schedule in a tensor dialect, ending with the parameters' update. */
function elementCode(s: KernelSchedule, d: TorchDialect): string[] {
  return withoutDeadAliases([
    ...emitElementReads(d, s),
    ...s.element.flatMap((x) => emitInstr(d, x)),
    d.updateWeights(d.operand(s.result)),
  ]);
}

/** Drops `name = other_name` lines whose name nothing after reads (w = param where the rule never reads w). */
function withoutDeadAliases(lines: string[]): string[] {
  return lines.filter((line, k) => {
    const alias = /^(\w+) = \w+$/.exec(line);
    return !alias || lines.slice(k + 1).some((later) => new RegExp(`\\b${alias[1]}\\b`).test(later));
  });
}

/** The Python source of the exported optimizer (see the file header). */
// Python 3.11's keywords and builtins: a class of one of these names would not parse, or would shadow what the file
// calls (a class named ValueError breaks every `raise ValueError`).
const PYTHON_WORDS = new Set(`
False None True and as assert async await break class continue def del elif else except finally for from
global if import in is lambda nonlocal not or pass raise return try while with yield ArithmeticError
AssertionError AttributeError BaseException BaseExceptionGroup BlockingIOError BrokenPipeError BufferError
BytesWarning ChildProcessError ConnectionAbortedError ConnectionError ConnectionRefusedError
ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError Exception
ExceptionGroup FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError
ImportError ImportWarning IndentationError IndexError InterruptedError IsADirectoryError KeyError
KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError NotADirectoryError NotImplemented
NotImplementedError OSError OverflowError PendingDeprecationWarning PermissionError ProcessLookupError
RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration
SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError TypeError UnboundLocalError
UnicodeDecodeError UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning UserWarning
ValueError Warning ZeroDivisionError abs aiter all anext any ascii bin bool breakpoint bytearray bytes
callable chr classmethod compile complex copyright credits delattr dict dir divmod enumerate eval exec exit
filter float format frozenset getattr globals hasattr hash help hex id input int isinstance issubclass iter
len license list locals map max memoryview min next object oct open ord pow print property quit range repr
reversed round set setattr slice sorted staticmethod str sum super tuple type vars zip
`.split(/\s+/).filter(Boolean));

/** What the file itself imports or defines at module level (its helpers all begin with _). */
const PYTHON_FILE_NAMES = ['math', 'struct', 'torch'];

/** Why `name` cannot name the exported PyTorch class, or undefined if it can. */
export function pytorchNameProblem(name: string): string | undefined {
  if (PYTHON_WORDS.has(name)) return `${name} is a Python keyword or builtin`;
  if (name.startsWith('_') || PYTHON_FILE_NAMES.includes(name)) return `the file itself uses ${name} (${PYTHON_FILE_NAMES.join(', ')} and names beginning with _)`;
  return undefined;
}

export function renderPytorch(info: RuleInfo, options: PytorchExportOptions): string {
  const s = scheduleKernel(info);
  const perStep = new Set<string>([...SCALAR_LOCALS.map(([n]) => n), ...s.step.flatMap((x) => ('out' in x ? [x.out] : []))]);
  const single = elementCode(s, new TorchDialect());
  const foreach = elementCode(s, new TorchForeachDialect(perStep));
  const stepLines = prologue(s, [...single, ...foreach].join('\n'));
  const states = s.state.map((name) => `state_${name}`);
  const random = info.randomSites > 0;
  const fused = options.fused ? fusedExtension(info, options.className) : null;
  const body = classSource(info, s, options, { stepLines, single, foreach, states, random, fused: fused !== null });
  const helpers = pythonHelpers(body);
  const sections = [fused?.python, ...helpers, body].filter((x): x is string => !!x);
  const code = sections.join('\n');
  const imports = [...(/\bmath\./.test(code) ? ['import math'] : []), ...(/\bstruct\./.test(code) ? ['import struct'] : [])];
  return `${header(info, options, random)}
${imports.join('\n')}${imports.length ? '\n\n' : ''}import torch


${sections.join('\n\n\n')}`;
}

function header(info: RuleInfo, options: PytorchExportOptions, random: boolean): string {
  const module = options.className.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const usage = `#   from ${module} import ${options.className}   (this file saved as ${module}.py)\n#   optimizer = ${options.className}(model.parameters(), lr=1e-3${info.decays.length ? ', total_steps=10000' : ''})`;
  return `# ${options.className}: the update rule ${info.canonical}
# as a torch.optim optimizer, exported by nos ${options.version} (nos export "${info.source}" --to pytorch${options.fused ? ' --fused' : ''}).
#
# Rule hash ${info.hash} (its canonical text), nos kernel ABI ${KERNEL_ABI_VERSION}.
# Each step, for every parameter w with gradient g:
#   w <- w - lr * (${info.canonical})
${describeLines(info, '#')}# All in float32 in the order nos's kernels compute, so this follows nos to float32 rounding.${random ? `
# Random draws (noise, drop) come from torch's generator (the \`generator\` argument, else the global one), not
# from nos's Philox, so they differ from nos's draws${options.fused ? ' unless the fused kernel runs: it draws from\n# Philox keyed by (seed, step, element), exactly as nos does' : ''}.` : ''}
#
# Usage (a self-contained file: it needs only torch):
${usage}
#   loss.backward(); optimizer.step()
# Param groups, state_dict()/load_state_dict() and learning-rate schedulers (torch.optim.lr_scheduler) work as
# with any torch.optim optimizer; foreach=True updates a list of tensors per op (torch._foreach_*).`;
}

interface ClassParts { stepLines: string[]; single: string[]; foreach: string[]; states: string[]; random: boolean; fused: boolean }

function classSource(info: RuleInfo, s: KernelSchedule, options: PytorchExportOptions, parts: ClassParts): string {
  const name = options.className;
  const stateInit = s.state.map((slot) => `                    state['${slot}'] = torch.zeros_like(param, memory_format=torch.preserve_format)`);
  const stateLists = s.state.map((slot) => `        state_${slot} = [st['${slot}'] for st in states]`);
  const stateOne = s.state.map((slot) => `            state_${slot} = st['${slot}']`);
  const decays = info.decays.length ? "\n        total_steps = group['total_steps']" : '';
  return `class ${name}(torch.optim.Optimizer):
    """${info.canonical}  (nos rule ${info.hash}).

    Arguments: params (iterable of parameters or dicts of param groups), lr (default ${py(D.lr)}), betas (beta1, beta2,
    beta3 of m, v, y; default ${py(D.betas)}), delta (added to each denominator; ${py(D.delta)}), momentum (mu of mom;
    ${py(D.momentum)}), bias_correction (divide m, v, y by 1 - beta^t; ${py(D.biasCorrection)}), total_steps (T of the decays ld, cd, rd${info.decays.length ? '; required' : ''}),
    noise_std (std of noise; ${py(D.noiseStd)}), foreach (lists of tensors per op; default on CUDA), generator (of the random draws)${parts.fused ? `,
    fused (run the rule's fused C++/CUDA kernel; default True), seed (of its Philox draws; 0)` : ''}.
    """

    RULE = ${JSON.stringify(info.canonical)}
    HASH = ${JSON.stringify(info.hash)}

    def __init__(self, params, lr=${py(D.lr)}, betas=${py(D.betas)}, delta=${py(D.delta)}, momentum=${py(D.momentum)}, bias_correction=${py(D.biasCorrection)},
                 total_steps=None, noise_std=${py(D.noiseStd)}, foreach=None, generator=None${parts.fused ? ', fused=True, seed=0' : ''}):
${parts.fused ? `        if not (_number(seed, 0.0, whole=True) and seed < 2 ** 32):
            raise ValueError(f"${name}: seed must be an integer in [0, 2^32), got {seed!r}")
` : ''}        defaults = dict(lr=lr, betas=betas, delta=delta, momentum=momentum, bias_correction=bias_correction,
                        total_steps=total_steps, noise_std=noise_std, foreach=foreach${parts.fused ? ', fused=fused' : ''})
        super().__init__(params, defaults)
        self.generator = generator${parts.fused ? '\n        self.seed = int(seed)' : ''}

    def add_param_group(self, param_group):
        """As torch.optim's, each setting of the group checked first (the constructor's groups come here too)."""
        if isinstance(param_group, dict):
            for key, value in self.defaults.items():
                param_group.setdefault(key, value)
            _check_group(${JSON.stringify(name)}, param_group, ${info.decays.length ? 'True' : 'False'})
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter with a gradient; closure (optional) recomputes and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            by_step = {}
            for param in group['params']:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError("${name} does not support sparse gradients")
                state = self.state[param]
                if len(state) == 0:
                    state['step'] = 0
${stateInit.join('\n')}${stateInit.length ? '\n' : ''}                state['step'] += 1
                by_step.setdefault(state['step'], ([], [], []))
                entry = by_step[state['step']]
                entry[0].append(param)
                entry[1].append(param.grad)
                entry[2].append(state)
            for t, (params, grads, states) in by_step.items():
                foreach = group['foreach'] if group['foreach'] is not None else params[0].is_cuda
                ${parts.fused ? `if group['fused']:
                    self._fused(group, t, params, grads, states)
                elif` : 'if'} foreach:
                    self._step_foreach(group, t, params, grads, states)
                else:
                    self._step_single(group, t, params, grads, states)
        return loss

    def _step_single(self, group, t, params, grads, states):${decays}
${indent(parts.stepLines, '        ')}
        for param, grad, st in zip(params, grads, states):
${stateOne.join('\n')}${stateOne.length ? '\n' : ''}${indent(parts.single, '            ')}

    def _step_foreach(self, group, t, params, grads, states):${decays}
${stateLists.join('\n')}${stateLists.length ? '\n' : ''}${indent(parts.stepLines, '        ')}
${indent(parts.foreach, '        ')}
${parts.fused ? `
    def _fused(self, group, t, params, grads, states):
        _fused_step(group, t, self.seed, params, grads, states, ${JSON.stringify(s.state)})
` : ''}`;
}

/** A Python class name for a rule: its name in CamelCase (powersign -> NosPowerSign, table6-05 -> NosTable6Rule05), else NosRule<hash>. */
export function pythonClassName(info: RuleInfo): string {
  const known: Record<string, string> = { sgd: 'SGD', momentum: 'Momentum', adam: 'Adam', rmsprop: 'RMSProp', powersign: 'PowerSign', addsign: 'AddSign' };
  const source = info.source.trim().toLowerCase();
  const table6 = /^table6-(\d\d)$/.exec(source);
  if (table6) return `NosTable6Rule${table6[1]}`;
  const match = /^(sgd|momentum|adam|rmsprop|powersign|addsign)(?:-([a-z]+)(\d*))?$/.exec(source);
  if (match) {
    const suffix = match[2] ? match[2][0].toUpperCase() + match[2].slice(1) + (match[3] ?? '') : '';
    return `Nos${known[match[1]]}${suffix}`;
  }
  return `NosRule${info.hash}`;
}

