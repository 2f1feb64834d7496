// The transfer tasks by name: each lives in its own file; a new task is one more file and one more line here.
import { createConvnetLargeTask } from './convnet-large';
import { createLmTask } from './lm';
import { createRosenbrockTask } from './rosenbrock';
import type { TaskOptions, TransferTask } from './task';

export const TASKS: Record<string, (options: TaskOptions) => TransferTask | Promise<TransferTask>> = {
  rosenbrock: createRosenbrockTask,
  'convnet-large': createConvnetLargeTask,
  lm: createLmTask,
};

export const TASK_NAMES = Object.keys(TASKS);

/** Loads the task's data and builds its sessions; bad data throws DataError (the CLI exits 2). */
export async function createTask(name: string, options: TaskOptions): Promise<TransferTask> {
  const make = TASKS[name];
  if (!make) throw Object.assign(new Error(`unknown task '${name}': expected some of ${TASK_NAMES.join(', ')}`), { exitCode: 2 });
  return make(options);
}
