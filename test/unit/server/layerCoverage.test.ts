/** README's "Layer coverage" table is generated (server/vetting/layerCoverage.ts) and must stay in sync. */
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LAYER_SEMANTICS } from '../../../shared/exactness.ts';
import { LAYER_RULES } from '../../../server/vetting/layerRules.ts';
import { MERGE_RULES } from '../../../server/vetting/mergeRules.ts';
import { COVERAGE_BEGIN, COVERAGE_END, layerCoverage, layerCoverageMarkdown } from '../../../server/vetting/layerCoverage.ts';

const README = new URL('../../../README.md', import.meta.url);

describe('layer coverage', () => {
  it('every allowed class has a training semantic, and every semantic an allowed class', () => {
    expect(Object.keys(LAYER_SEMANTICS).sort()).toEqual([...Object.keys(LAYER_RULES), ...Object.keys(MERGE_RULES)].sort());
  });

  it('covers every tfjs layer class; the random layers and batch norm are what the issue says', () => {
    const rows = new Map(layerCoverage(tf).map((r) => [r.className, r]));
    expect(rows.size).toBeGreaterThan(60);
    for (const c of ['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Dense', 'Conv2D']) expect(rows.get(c)?.verdict).toBe('exact');
    expect(rows.get('BatchNormalization')?.verdict).toBe('trains with a stated difference');
    expect(rows.get('Conv3D')?.verdict).toBe('rejected at job creation (MODEL_REJECTED)');
    // functional models and the merge layers that join their branches
    for (const c of ['Functional', 'Model', 'Concatenate', 'Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Dot']) expect(rows.get(c)?.verdict, c).toBe('exact');
  });

  it("README.md's Layer coverage section is the generated table", () => {
    const md = layerCoverageMarkdown(tf);
    const text = readFileSync(README, 'utf8');
    const a = text.indexOf(COVERAGE_BEGIN);
    const b = text.indexOf(COVERAGE_END);
    if (process.env.UPDATE_LAYER_TABLE === '1') {
      const heading = '## Layer coverage';
      const next = a >= 0 ? text.slice(0, a) + md + text.slice(b + COVERAGE_END.length) : text.replace(heading, `${heading}\n\n${md}`);
      writeFileSync(README, next);
      return;
    }
    expect(text).toContain('## Layer coverage');
    expect(a).toBeGreaterThan(text.indexOf('## Layer coverage'));
    expect(text.slice(a, b + COVERAGE_END.length)).toBe(md);
  });
});
