/** Root hooks for every suite. */
import { stopEmbeddedForTests } from './db.js';

export const mochaHooks = {
  async afterAll() {
    await stopEmbeddedForTests();
  },
};
