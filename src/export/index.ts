// exportRule: a compiled rule as an optimizer of another framework (PyTorch, TensorFlow.js), as the text of one source file.
import { compileRule, type RuleInfo } from '../compiler/analyze';
import { packageVersion } from '../cli/version';
import { pythonClassName, renderPytorch } from './pytorch';
import { renderTfjs } from './tfjs';

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

/** The source of an optimizer file running `rule` (a name, infix or tokens, or a compiled RuleInfo) in `target`. */
export function exportRule(rule: string | RuleInfo, target: ExportTarget, options: ExportOptions = {}): string {
  const info = typeof rule === 'string' ? compileRule(rule) : rule;
  const className = options.className ?? exportClassName(info);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(className)) throw new RangeError(`exportRule: class name must be an identifier (letters, digits, _), got ${JSON.stringify(className)}`);
  switch (target) {
    case 'pytorch': return renderPytorch(info, { className, fused: options.fused, version: packageVersion() });
    case 'tfjs':
      if (options.fused) throw new RangeError('exportRule: fused is for pytorch only (TensorFlow.js runs its own kernels)');
      return renderTfjs(info, { className, version: packageVersion() });
    default: throw new RangeError(`exportRule: unknown target ${JSON.stringify(target)}: expected one of ${EXPORT_TARGETS.join(', ')}`);
  }
}
