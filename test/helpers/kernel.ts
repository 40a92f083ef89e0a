import { createKernel, type Kernel, type KernelOptions } from '../../src/kernel.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from './stores.js';

/** A kernel on a temp state folder (memory store unless told otherwise). */
export async function testKernel(
  options: KernelOptions = {},
): Promise<{ kernel: Kernel; dir: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = tempDir('kerno-kernel-');
  const kernel = await createKernel({
    store: 'memory:',
    stateDir: dir,
    logger: silentLogger,
    registryKey: 'test registry key',
    registryScryptCost: 1024,
    ...options,
  });
  return {
    kernel,
    dir,
    cleanup: async () => {
      await kernel.close();
      cleanup();
    },
  };
}
