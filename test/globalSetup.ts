/**
 * Builds the shipped datasets' shards once before any test file runs (server/datasets/shipped.ts
 * caches them per machine), so no test's time limit pays for the first build.
 */
import { shippedCatalog } from '../server/datasets/shipped.ts';

export default async function setup(): Promise<void> {
  await shippedCatalog();
}
