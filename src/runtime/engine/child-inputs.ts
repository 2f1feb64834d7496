// What a child starts from and reads, exactly as the onnxruntime path makes them: initial weights from the seed
// (models.ts initializeParams, the trainer's initialize) and each epoch's example order (train-loop.ts: one
// SeededRandom(seed + 1) per run shuffling the same array once per epoch).  Memoized per seed: every child of a
// search shares the seed, so the whole search needs one set.
import { initializeParams, type ModelSpec } from '../child/models';
import { SeededRandom } from '../child/random';

export class ChildInputs {
  private readonly weights = new Map<number, Float32Array>();
  private readonly orders = new Map<number, { rng: SeededRandom; order: Uint32Array; epochs: Uint32Array[] }>();

  constructor(private readonly model: ModelSpec, private readonly offsets: number[], private readonly paramCount: number,
    private readonly examples: number) {}

  /** A child's initial parameters as one flat vector in the engine's layout (models.ts order). */
  initialWeights(seed: number): Float32Array {
    let flat = this.weights.get(seed);
    if (!flat) {
      const tensors = this.model.params.map((p) => new Float32Array(p.shape.reduce((a, b) => a * b, 1)));
      initializeParams(this.model, tensors, new SeededRandom(seed));
      flat = new Float32Array(this.paramCount);
      tensors.forEach((t, i) => flat!.set(t, this.offsets[i]));
      this.weights.set(seed, flat);
    }
    return flat;
  }

  /** The order in which a run with this seed visits the training examples in its epoch `epoch` (0-based). */
  order(seed: number, epoch: number): Uint32Array {
    let memo = this.orders.get(seed);
    if (!memo) {
      memo = { rng: new SeededRandom(seed + 1), order: Uint32Array.from({ length: this.examples }, (_, i) => i), epochs: [] };
      this.orders.set(seed, memo);
    }
    while (memo.epochs.length <= epoch) {
      memo.rng.shuffle(memo.order);
      memo.epochs.push(memo.order.slice());
    }
    return memo.epochs[epoch];
  }
}
