// Builds ONNX graphs value by value and records a tape of differentiable ops for reverse-mode gradients.
import { encodeModel, OnnxDataType, type AttributeValue, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx-proto';

/** A tensor value in the graph under construction, with its static shape. */
export interface Value {
  name: string;
  shape: number[];
  /** True when the loss's gradient with respect to this value is wanted (parameters and what depends on them). */
  requiresGrad: boolean;
}

/** -1 marks a dynamic dimension: it becomes the symbolic dimension 'N' in the model. */
function symbolic(shape: number[]): Array<number | string> {
  return shape.map((d) => (d < 0 ? 'N' : d));
}

type BackwardFn = (gradOutput: Value) => void;
/** The backward pass of an op with several outputs: one gradient per output, null where none reached it. */
type MultiBackwardFn = (gradOutputs: Array<Value | null>) => void;

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  readonly inputs: OnnxValueInfo[] = [];
  readonly outputs: OnnxValueInfo[] = [];
  private counter = 0;
  private tape: Array<{ output: Value; backward: BackwardFn } | { outputs: Value[]; backwardMulti: MultiBackwardFn }> = [];
  private grads = new Map<string, Value>();
  private constants = new Map<string, string>();

  constructor(readonly name: string, readonly dataType: OnnxDataType.FLOAT | OnnxDataType.DOUBLE = OnnxDataType.FLOAT) {}

  /** A fresh, unique value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** A graph input; a dimension of -1 is dynamic (the batch of the evaluation graph). */
  input(name: string, shape: number[], requiresGrad = false, dataType: OnnxDataType = this.dataType): Value {
    this.inputs.push({ name, dataType, dims: symbolic(shape) });
    return { name, shape, requiresGrad };
  }

  output(v: Value, name?: string, dataType: OnnxDataType = this.dataType): string {
    let outName = v.name;
    if (name && name !== v.name) {
      this.node('Identity', [v.name], [name]);
      outName = name;
    }
    this.outputs.push({ name: outName, dataType, dims: symbolic(v.shape) });
    return outName;
  }

  /** Adds one node; returns the names of its outputs (fresh names unless given). */
  node(opType: string, inputs: string[], outputs: string[] | number = 1, attributes?: Record<string, AttributeValue>): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    this.nodes.push({ opType, inputs, outputs: outNames, attributes });
    return outNames;
  }

  /** A constant float tensor (by default in the graph's float type), deduplicated by content. */
  constant(values: ArrayLike<number>, dims: number[], dataType: OnnxDataType.FLOAT | OnnxDataType.DOUBLE = this.dataType): string {
    const data = dataType === OnnxDataType.DOUBLE ? Float64Array.from(values) : Float32Array.from(values);
    return this.rawConstant(new Uint8Array(data.buffer), dims, dataType);
  }

  /** A scalar float constant. */
  scalar(value: number): string {
    return this.constant([value], []);
  }

  /** A constant int64 tensor (shapes, axes). */
  int64(values: number[]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    return this.rawConstant(new Uint8Array(data.buffer), [values.length], OnnxDataType.INT64);
  }

  private rawConstant(raw: Uint8Array, dims: number[], dataType: OnnxDataType): string {
    const key = `${dataType}|${dims.join(',')}|${Buffer.from(raw).toString('base64')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.fresh('const');
    this.initializers.push({ name, dataType, dims, raw });
    this.constants.set(key, name);
    return name;
  }

  /** Records how to send an output's gradient back to the inputs of the op that made it. */
  record(output: Value, backward: BackwardFn): void {
    if (output.requiresGrad) this.tape.push({ output, backward });
  }

  /**
   * As `record`, for an op with several outputs (a split): its backward runs once, after every consumer of every
   * output has sent its gradient back, and is skipped when no output got one.
   */
  recordMulti(outputs: Value[], backwardMulti: MultiBackwardFn): void {
    if (outputs.some((o) => o.requiresGrad)) this.tape.push({ outputs, backwardMulti });
  }

  /** Adds `grad` to the gradient accumulated for `v` (a value used twice gets the sum of both paths). */
  accumulate(v: Value, grad: Value): void {
    if (!v.requiresGrad) return;
    const prior = this.grads.get(v.name);
    if (!prior) {
      this.grads.set(v.name, grad);
      return;
    }
    const [sum] = this.node('Add', [prior.name, grad.name]);
    this.grads.set(v.name, { name: sum, shape: v.shape, requiresGrad: false });
  }

  /** Reverse-mode pass from a scalar loss; afterwards `gradOf` gives the gradient of any value that requires it. */
  backward(loss: Value): void {
    if (loss.shape.length !== 0) throw new Error(`backward: the loss must be a scalar, got shape [${loss.shape}]`);
    this.grads.set(loss.name, { name: this.scalar(1), shape: [], requiresGrad: false });
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const entry = this.tape[i];
      if ('output' in entry) {
        const g = this.grads.get(entry.output.name);
        if (g) entry.backward(g);
      } else {
        const gs = entry.outputs.map((o) => this.grads.get(o.name) ?? null);
        if (gs.some((g) => g !== null)) entry.backwardMulti(gs);
      }
    }
  }

  gradOf(v: Value): Value {
    const g = this.grads.get(v.name);
    if (!g) throw new Error(`no gradient reaches '${v.name}': it does not influence the loss or does not require grad`);
    return g;
  }

  toBytes(opset = 17): Uint8Array {
    return encodeModel(
      { name: this.name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs },
      opset,
    );
  }
}
