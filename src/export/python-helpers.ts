// The Python helpers an exported PyTorch optimizer may call, each written into the file only where the code uses it.
//
// Per-step values are Python floats: these give the kernels' answers where Python's math module raises instead
// (exp overflow is inf, log 0 is -inf, a division by 0 is inf or NaN, powf's special cases), sign(NaN) is 0 as in
// every nos kernel, and the sign decays are TensorFlow's sign_decay.py formulas with the 0-based global step t - 1.

/** name -> [source, names of the helpers it calls]. */
const HELPERS: Record<string, [string, string[]]> = {
  _exp: [`def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf`, []],
  _log: [`def _log(x):
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)`, []],
  _sign: [`def _sign(x):
    return float((x > 0) - (x < 0))`, []],
  _clip: [`def _clip(x, bound):
    return min(max(x, -bound), bound)`, []],
  _sigmoid: [`def _sigmoid(x):
    return 1.0 / (1.0 + _exp(-x))`, ['_exp']],
  _div: [`def _div(x, y):
    if y != 0:
        return x / y
    return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1.0, y)`, []],
  _pow: [`def _pow(x, y):
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf if x > 0 or float(y).is_integer() and int(y) % 2 == 0 else -math.inf
    except ValueError:
        return math.nan`, []],
  _ld: [`def _ld(t, total_steps):
    """Linear decay (TensorFlow's sign_decay.get_linear_decay_fn) at 0-based global step t - 1."""
    s = min(t - 1, total_steps)
    return max(0.0, (total_steps - s) / total_steps)`, []],
  _cd: [`def _cd(t, total_steps, periods):
    """Cosine decay with \`periods\` periods (get_cosine_decay_fn) at 0-based global step t - 1."""
    s = min(t - 1, total_steps)
    return 0.5 * (1.0 + math.cos(math.pi * 2.0 * periods * s / total_steps))`, []],
  _rd: [`def _rd(t, total_steps, periods):
    """Cosine decay with restarts (get_restart_decay_fn) at 0-based global step t - 1."""
    s = min(t - 1, total_steps)
    return 0.5 * (1.0 + math.cos(math.pi * ((periods * s) % total_steps) / total_steps))`, []],
  _select: [`def _select(p, pos, neg, zero, negzero):
    """Where a product of signs p is 1, -1, +0 or -0: pos, neg, zero or negzero (values computed once per step)."""
    out = torch.full_like(p, zero)
    out.masked_fill_(torch.signbit(p) & (p == 0), negzero)
    out.masked_fill_(p > 0, pos)
    return out.masked_fill_(p < 0, neg)`, []],
  _number: [`def _number(x, low=None, whole=False):
    """A real number (a float, an int, a NumPy or one-element torch number; not a bool or a string) that float32,
    which the step computes in, holds: finite, at most about 3.4e38; at least low; an integer if whole."""
    if isinstance(x, (bool, str, bytes)):
        return False
    try:
        x = float(x)
    except (TypeError, ValueError, RuntimeError):
        return False
    return (math.isfinite(x) and abs(x) <= 3.4028234663852886e38 and (low is None or x >= low)
            and (not whole or x.is_integer()))`, []],
  _check_group: [`def _check_group(name, group, decays):
    """Raises ValueError naming the first setting of a param group the step cannot run with."""
    def bad(what, value):
        raise ValueError(f"{name}: {what}, got {value!r}")
    if not _number(group['lr'], 0.0):
        bad("lr must be a finite number >= 0", group['lr'])
    betas = group['betas']
    if not (isinstance(betas, (tuple, list)) and len(betas) == 3 and all(_number(b, 0.0) and b < 1.0 for b in betas)):
        bad("betas must be three numbers in [0, 1)", betas)
    if not _number(group['delta'], 0.0):
        bad("delta must be a finite number >= 0", group['delta'])
    if not _number(group['momentum']):
        bad("momentum must be a finite number", group['momentum'])
    if not isinstance(group['bias_correction'], bool):
        bad("bias_correction must be True or False", group['bias_correction'])
    if not _number(group['noise_std'], 0.0):
        bad("noise_std must be a finite number >= 0", group['noise_std'])
    steps = group['total_steps']
    if (steps is not None or decays) and not _number(steps, 1.0, whole=True):
        bad("total_steps must be a positive integer" + (" (the rule's decays need it)" if decays else ""), steps)`, ['_number']],
  _each: [`def _each(fn, *args):
    """fn over the tensors of the lists among args, element by element (other args are passed as they are)."""
    count = next(len(a) for a in args if isinstance(a, (list, tuple)))
    return [fn(*(a[i] if isinstance(a, (list, tuple)) else a for a in args)) for i in range(count)]`, []],
};

/** The helper definitions `code` calls (and those they call), in a stable order. */
export function pythonHelpers(code: string): string[] {
  const wanted = new Set<string>();
  const add = (name: string): void => {
    if (wanted.has(name)) return;
    wanted.add(name);
    for (const dep of HELPERS[name][1]) add(dep);
  };
  for (const name of Object.keys(HELPERS)) if (new RegExp(`\\b${name}\\b`).test(code)) add(name);
  return Object.keys(HELPERS).filter((n) => wanted.has(n)).map((n) => HELPERS[n][0]);
}
