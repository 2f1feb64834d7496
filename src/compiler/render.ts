// One entry point for the renderers: the kernel source of a rule for a target, per kernel-abi.ts.
import type { KernelRule } from './interpret';
import { renderCpu } from './render-cpu';
import { renderCuda } from './render-cuda';
import { renderJs } from './render-js';

export type RenderTarget = 'cpu' | 'cuda' | 'js';
export const RENDER_TARGETS: readonly RenderTarget[] = ['cpu', 'cuda', 'js'];

/**
 * Source text of the fused update kernel of `info` for `target`: C++ for the CPU (nos_update_range, nos_update_list),
 * CUDA C (nos_update), or a JS function body (`new Function('nos', src)(JS_KERNEL_HELPERS)` returns the kernel).
 */
export function renderRule(info: KernelRule, target: RenderTarget): string {
  switch (target) {
    case 'cpu': return renderCpu(info);
    case 'cuda': return renderCuda(info);
    case 'js': return renderJs(info);
    default: throw new RangeError(`unknown render target '${String(target)}': expected one of ${RENDER_TARGETS.join(', ')}`);
  }
}

export { loadJsKernel, JS_KERNEL_HELPERS } from './render-js';
