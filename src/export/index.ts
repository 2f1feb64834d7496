// exportRule: a compiled rule as an optimizer of another framework (PyTorch, TensorFlow.js), as the text of one source file.
import { compileRule, type RuleInfo } from '../compiler/analyze';
import { packageVersion } from '../cli/version';
import { pythonClassName, pytorchNameProblem, renderPytorch } from './pytorch';
import { renderTfjs, tfjsNameProblem } from './tfjs';

export type ExportTarget = 'pytorch' | 'tfjs';
export const EXPORT_TARGETS: readonly ExportTarget[] = ['pytorch', 'tfjs'];

export interface ExportOptions {
  /** The optimizer class's name; default from the rule's name (powersign: NosPowerSign), else NosRule<hash>. */
  className?: string;
  /** PyTorch only: also carry the rule's fused C++/CUDA kernel (built by torch.utils.cpp_extension.load_inline). */
  fused?: boolean;
}

/** The class name for a rule (a valid identifier in Python and JS). */
export function exportClassName(info: RuleInfo): string {
  return pythonClassName(info);
}

/** Why `name` cannot name the class exported to `target` (not an identifier, a keyword, a name the file uses), or undefined. */
export function classNameProblem(name: string, target: ExportTarget): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `class name must be an identifier (letters, digits, _), got ${JSON.stringify(name)}`;
  const problem = target === 'pytorch' ? pytorchNameProblem(name) : tfjsNameProblem(name);
  return problem && `class name ${name} cannot be used for ${target}: ${problem}`;
}

const OPTION_KEYS: Record<keyof ExportOptions, true> = { className: true, fused: true };

function checkOptions(options: ExportOptions): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`exportRule: options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(OPTION_KEYS, key)) throw new TypeError(`exportRule: unknown option '${key}' (known: ${Object.keys(OPTION_KEYS).join(', ')})`);
  }
  if (options.fused !== undefined && typeof options.fused !== 'boolean') throw new TypeError(`exportRule: fused must be true or false, got ${JSON.stringify(options.fused)}`);
  if (options.className !== undefined && typeof options.className !== 'string') throw new TypeError(`exportRule: className must be a string, got ${typeof options.className}`);
}

/** The source of an optimizer file running `rule` (a name, infix or tokens, or a compiled RuleInfo) in `target`. */
export function exportRule(rule: string | RuleInfo, target: ExportTarget, options: ExportOptions = {}): string {
  checkOptions(options);
  if (!EXPORT_TARGETS.includes(target)) throw new RangeError(`exportRule: unknown target ${JSON.stringify(target)}: expected one of ${EXPORT_TARGETS.join(', ')}`);
  const info = typeof rule === 'string' ? compileRule(rule) : rule;
  if (!info || typeof info !== 'object' || typeof info.canonical !== 'string' || typeof info.hash !== 'string') {
    throw new TypeError(`exportRule: rule must be a rule text, a rule name or a compiled rule (compileRule), received ${info === null ? 'null' : typeof info}`);
  }
  const className = options.className ?? exportClassName(info);
  const problem = classNameProblem(className, target);
  if (problem) throw new RangeError(`exportRule: ${problem}`);
  if (target === 'pytorch') return renderPytorch(info, { className, fused: options.fused, version: packageVersion() });
  if (options.fused) throw new RangeError('exportRule: fused is for pytorch only (TensorFlow.js runs its own kernels)');
  return renderTfjs(info, { className, version: packageVersion() });
}
