// The transfer tasks by name: each lives in its own file; a new task is one more file and one more line here.
// Loaded when asked for: the networks' tasks load onnxruntime (a 44 MB library), which `nos` does not load otherwise
// until a child trains on the CPU.
import type { TaskOptions, TransferTask } from './task';
import { InputError } from '../errors';

type TaskFactory = (options: TaskOptions) => TransferTask | Promise<TransferTask>;

const TASKS: Record<string, () => TaskFactory> = {
  rosenbrock: () => (require('./rosenbrock') as typeof import('./rosenbrock')).createRosenbrockTask,
  'convnet-large': () => (require('./convnet-large') as typeof import('./convnet-large')).createConvnetLargeTask,
  lm: () => (require('./lm') as typeof import('./lm')).createLmTask,
};

export const TASK_NAMES = Object.keys(TASKS);

/** Loads the task's data and builds its sessions; bad data throws DataError (the CLI exits 2). */
export async function createTask(name: string, options: TaskOptions): Promise<TransferTask> {
  const make = Object.hasOwn(TASKS, name) ? TASKS[name]() : undefined;
  if (!make) throw new InputError(`unknown task '${name}': expected some of ${TASK_NAMES.join(', ')}`);
  return make(options);
}
