// The fused path of a PyTorch export: the rule's C++ kernel (and its CUDA kernel) built as a torch extension by load_inline.
//
// The kernels are the ones nos runs (renderCpu, renderCuda, kernel-abi.ts): one pass over w, g and the state,
// Philox draws keyed by (seed, step, element).  The Python side fills the per-step scalars exactly as nos's
// fillScalars does (float32 slots, 1 - beta in double, the decays in float32 steps), so the fused step gives nos's
// results and nos's random draws.  The CPU module builds on first use with the system C++ compiler and torch's
// headers (Debian: libtorch-dev, pybind11-dev, python3-dev, ninja-build); the CUDA module builds only when a
// parameter is on a GPU, with nvcc.
import type { RuleInfo } from '../compiler/analyze';
import { DECAY_BASE, KERNEL_ABI_VERSION, NOS_SCALAR_COUNT, Scalar, STATE_SLOTS } from '../compiler/kernel-abi';
import { renderCpu, CPU_COMPILE_FLAGS } from '../compiler/render-cpu';
import { CUDA_MAX_ENTRIES, CUDA_UPDATE_BLOCK, cudaLaunchPlanC, renderCuda } from '../compiler/render-cuda';

/** The C++ entry the Python side calls: one step over a list of tensors, the state slots the rule uses as lists. */
function bindingSignature(slots: string[]): string {
  return `void nos_step(std::vector<at::Tensor> params, std::vector<at::Tensor> grads${slots.map((s) => `, std::vector<at::Tensor> state_${s}`).join('')},
              at::Tensor scalars, int64_t seed, int64_t step, std::vector<int64_t> bases)`;
}

/** Argument checks and the host table of tensors (kernel-abi.ts's nos_tensor layout), shared by both modules. */
function tableBuilder(slots: string[], struct: string): string {
  const slotOf = (s: string): number => STATE_SLOTS.indexOf(s as never);
  return `  const size_t count = params.size();
  TORCH_CHECK(grads.size() == count${slots.map((s) => ` && state_${s}.size() == count`).join('')}, "nos_step: one gradient and state per parameter");
  TORCH_CHECK(scalars.device().is_cpu() && scalars.scalar_type() == at::kFloat && scalars.numel() == ${NOS_SCALAR_COUNT}, "nos_step: scalars must be ${NOS_SCALAR_COUNT} float32 values on the CPU");
  std::vector<${struct}> table(count);
  for (size_t k = 0; k < count; ++k) {
    const at::Tensor& w = params[k];
    auto same = [&](const at::Tensor& x, const char* what) {
      TORCH_CHECK(x.scalar_type() == at::kFloat, "nos_step: ", what, " ", k, " must be float32 (the fused kernel computes in float32)");
      TORCH_CHECK(x.device() == w.device(), "nos_step: ", what, " ", k, " is on ", x.device(), ", its parameter on ", w.device());
      TORCH_CHECK(x.is_contiguous(), "nos_step: ", what, " ", k, " must be contiguous (use fused=False for strided tensors)");
      TORCH_CHECK(x.numel() == w.numel(), "nos_step: ", what, " ", k, " has ", x.numel(), " elements, its parameter ", w.numel());
    };
    same(w, "parameter");
    same(grads[k], "gradient");
${slots.map((s) => `    same(state_${s}[k], "state ${s}");`).join('\n')}
    table[k].w = w.data_ptr<float>();
    table[k].g = grads[k].data_ptr<float>();
    for (int s = 0; s < 4; ++s) table[k].s[s] = nullptr;
${slots.map((s) => `    table[k].s[${slotOf(s)}] = state_${s}[k].data_ptr<float>();`).join('\n')}
    table[k].n = w.numel();
    table[k].rng_base = (uint64_t)bases[k];
  }`;
}

/** The CPU module's C++: nos's CPU kernel, then the binding, which splits each tensor over torch's threads. */
function cpuSource(info: RuleInfo): string {
  const slots = [...info.state];
  return `${renderCpu(info)}
#include <vector>
${bindingSignature(slots)} {
${tableBuilder(slots, 'nos_tensor')}
  const float* sc = scalars.data_ptr<float>();
  for (size_t k = 0; k < count; ++k) {
    const nos_tensor* t = &table[k];
    at::parallel_for(0, t->n, 1 << 15, [&](int64_t begin, int64_t end) {
      nos_update_range(t, begin, end, sc, (uint32_t)seed, (uint32_t)step);
    });
  }
}
`;
}

/** The CUDA module: nos's CUDA kernel and a launcher (.cu), and a binding that passes torch's current stream (.cpp). */
function cudaSources(info: RuleInfo): { cuda: string; cpp: string } {
  const slots = [...info.state];
  const cuda = `${renderCuda(info)}
// Launcher: copies the table of entries (tensors cut into chunks, see the binding) to the device buffer, then one
// launch for the list.
extern "C" void nos_cuda_launch(const nos_tensor* host_table, void* device_table, int count, const float* scalars,
                                unsigned int seed, unsigned int step, long long blocks, void* stream) {
  cudaStream_t s = (cudaStream_t)stream;
  cudaMemcpyAsync(device_table, host_table, sizeof(nos_tensor) * count, cudaMemcpyHostToDevice, s);
  nos_scalars sc;
  for (int k = 0; k < NOS_SCALAR_COUNT; ++k) sc.v[k] = scalars[k];
  nos_update<<<dim3((unsigned int)blocks, (unsigned int)count), ${CUDA_UPDATE_BLOCK}, 0, s>>>((const nos_tensor*)device_table, count, sc, seed, step);
}
`;
  const cpp = `#include <vector>
#include <ATen/cuda/CUDAContext.h>
struct nos_tensor { float* w; const float* g; float* s[4]; long long n; unsigned long long rng_base; };
extern "C" void nos_cuda_launch(const nos_tensor* host_table, void* device_table, int count, const float* scalars,
                                unsigned int seed, unsigned int step, long long blocks, void* stream);
${cudaLaunchPlanC()}
${bindingSignature(slots)} {
${tableBuilder(slots, 'nos_tensor')}
  TORCH_CHECK(count <= ${CUDA_MAX_ENTRIES}, "nos_step: at most ${CUDA_MAX_ENTRIES} tensors per step on CUDA, got ", count);
  long long blocks = 1, total = 0;
  for (const auto& t : table) total += t.n;
  const std::vector<nos_tensor> entries = nos_update_entries(table.data(), count, &blocks);
  TORCH_CHECK(!entries.empty() || total == 0, "nos_step: ", total, " elements do not fit one launch");
  if (entries.empty()) return;
  at::Tensor device_table = at::empty({(int64_t)(sizeof(nos_tensor) * entries.size())}, params[0].options().dtype(at::kByte));
  nos_cuda_launch(entries.data(), device_table.data_ptr(), (int)entries.size(), scalars.data_ptr<float>(), (unsigned int)seed,
                  (unsigned int)step, blocks, (void*)at::cuda::getCurrentCUDAStream().stream());
  AT_CUDA_CHECK(cudaGetLastError());
}
`;
  return { cuda, cpp };
}

/** Python: the per-step scalars exactly as nos's fillScalars (kernel-abi.ts), the decays in float32 steps. */
function scalarsFunction(info: RuleInfo): string {
  const decayLines = info.decays.map((d, i) => {
    const call = d.name === 'ld' ? '_ld32(t, T)' : `_${d.name}32(t, T, ${d.n})`;
    return `    out[${DECAY_BASE + i}] = ${call}`;
  });
  return `def _nos_scalars(group, t):
    """The ${NOS_SCALAR_COUNT} per-step scalars of nos's kernel ABI ${KERNEL_ABI_VERSION} (kernel-abi.ts) for step t (1-based)."""
    b1, b2, b3 = group['betas']
    correct = group['bias_correction']
    out = [0.0] * ${NOS_SCALAR_COUNT}
    out[${Scalar.lr}] = group['lr']
    out[${Scalar.beta1}], out[${Scalar.beta2}], out[${Scalar.beta3}] = b1, b2, b3
    out[${Scalar.invBc1}] = 1.0 / (1.0 - b1 ** t) if correct else 1.0
    out[${Scalar.invBc2}] = 1.0 / (1.0 - b2 ** t) if correct else 1.0
    out[${Scalar.invBc3}] = 1.0 / (1.0 - b3 ** t) if correct else 1.0
    out[${Scalar.delta}] = group['delta']
    out[${Scalar.momentum}] = group['momentum']
    out[${Scalar.noiseStd}] = group['noise_std']
    out[${Scalar.anoiseStd}] = t ** -0.275
    out[${Scalar.oneMinusBeta1}], out[${Scalar.oneMinusBeta2}], out[${Scalar.oneMinusBeta3}] = 1.0 - b1, 1.0 - b2, 1.0 - b3
${info.decays.length ? `    T = group['total_steps']\n${decayLines.join('\n')}\n` : ''}    return torch.tensor(out, dtype=torch.float32)`;
}

/** float32 replicas of nos's decayValue (TensorFlow's sign_decay.py in float32, 0-based global step t - 1). */
const DECAYS32: Record<string, string> = {
  _ld32: `def _ld32(t, T):
    s = min(t - 1, T)
    return max(0.0, _f32(_f32(T - s) / _f32(T)))`,
  _cd32: `def _cd32(t, T, n):
    completed = _f32(_f32(min(t - 1, T)) / _f32(T))
    fraction = _f32(_f32(2 * n) * completed)
    return _f32(0.5 * _f32(1 + _f32(math.cos(_f32(_PI32 * fraction)))))`,
  _rd32: `def _rd32(t, T, n):
    x = _f32(_f32(n) * _f32(min(t - 1, T)))
    r = math.fmod(x, _f32(T))
    r = _f32(r + T if r != 0 and (r < 0) != (T < 0) else r)
    fraction = _f32(r / _f32(T))
    return _f32(0.5 * _f32(1 + _f32(math.cos(_f32(_PI32 * fraction)))))`,
};

const F32 = `def _f32(x):
    """x rounded to float32."""
    if math.isnan(x) or math.isinf(x) or abs(x) < 3.4028235677973366e38:
        return struct.unpack('f', struct.pack('f', x))[0]
    return math.copysign(math.inf, x)


_PI32 = _f32(math.pi)`;

/** The float32 decay helpers the rule's decays need (none without decays). */
function decayHelpers(info: RuleInfo): string {
  const used = [...new Set(info.decays.map((d) => `_${d.name}32`))];
  return used.length ? `${F32}\n\n\n${used.map((name) => DECAYS32[name]).join('\n\n\n')}\n\n\n` : '';
}

export interface FusedExtension {
  /** Python: the sources, the module builder and _fused_step(group, t, seed, params, grads, states, slots). */
  python: string;
  /** The C++ (CPU module) and CUDA sources it carries, for tests that compile them alone. */
  cpuSource: string;
  cudaSource: string;
  cudaBinding: string;
}

/** The fused path's Python code for `info` (see the file header). */
export function fusedExtension(info: RuleInfo, className: string): FusedExtension {
  const cpu = cpuSource(info);
  const { cuda, cpp } = cudaSources(info);
  const pyString = (text: string): string => `r"""${text.replace(/"""/g, '\\"\\"\\"')}"""`;
  const name = `nos_${info.hash}_abi${KERNEL_ABI_VERSION}`;
  const python = `# The fused path: nos's own kernels for this rule, built on first use by torch.utils.cpp_extension.load_inline.
_NOS_CPU_SOURCE = ${pyString(cpu)}

_NOS_CUDA_SOURCE = ${pyString(cuda)}

_NOS_CUDA_BINDING = ${pyString(cpp)}

_NOS_MODULES = {}


def _nos_cpu_flags():
    """nos's compile flags (${CPU_COMPILE_FLAGS.join(' ')}), AVX2 and FMA only where the CPU has them."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = f.read()
    except OSError:
        flags = ''
    words = set(flags.split())
    isa = 'avx2' in words and 'fma' in words
    return [f for f in ${JSON.stringify(CPU_COMPILE_FLAGS)} if isa or f not in ('-mavx2', '-mfma')]


def _nos_module(cuda):
    """The extension for the CPU or for CUDA, built once per process (and cached on disk by torch)."""
    key = 'cuda' if cuda else 'cpu'
    if key not in _NOS_MODULES:
        from torch.utils.cpp_extension import load_inline
        if cuda:
            _NOS_MODULES[key] = load_inline(${JSON.stringify(name)} + '_cuda', cpp_sources=[_NOS_CUDA_BINDING],
                                            cuda_sources=[_NOS_CUDA_SOURCE], functions=['nos_step'],
                                            extra_cflags=['-O3'], extra_cuda_cflags=['-O3', '--fmad=false'])
        else:
            _NOS_MODULES[key] = load_inline(${JSON.stringify(name)} + '_cpu', cpp_sources=[_NOS_CPU_SOURCE],
                                            functions=['nos_step'], extra_cflags=_nos_cpu_flags())
    return _NOS_MODULES[key]


${decayHelpers(info)}${scalarsFunction(info)}


def _fused_step(group, t, seed, params, grads, states, slots):
    """One fused step over the list: nos's kernel, its Philox draws keyed by (seed, t, element index in the list)."""
    cuda = params[0].is_cuda
    if any(p.is_cuda != cuda for p in params):
        raise RuntimeError("${className}: the fused step needs every parameter of a group on one device")
    bases, base = [], 0
    for p in params:
        bases.append(base)
        base += p.numel()
    grads = [g.contiguous() for g in grads]
    lists = [[st[slot] for st in states] for slot in slots]
    _nos_module(cuda).nos_step(params, grads, *lists, _nos_scalars(group, t), seed, t, bases)`;
  return { python, cpuSource: cpu, cudaSource: cuda, cudaBinding: cpp };
}
