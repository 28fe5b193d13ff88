/** Validating untrusted messages against a zod schema, as one result type for every protocol. */
import type { z } from 'zod';

export type Parsed<T> = { ok: true; value: T } | { ok: false; code: 'BAD_REQUEST'; message: string };

/** Never throws: a schema that throws on hostile input (too deeply nested) is a BAD_REQUEST too. */
export function parseWith<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, raw: unknown): Parsed<T> {
  let r: ReturnType<typeof schema.safeParse>;
  try {
    r = schema.safeParse(raw);
  } catch {
    // e.g. a stack overflow on absurdly nested input inside a refinement
    return { ok: false, code: 'BAD_REQUEST', message: '(root): input too deeply nested or malformed' };
  }
  if (r.success) return { ok: true, value: r.data };
  const first = r.error.issues[0];
  return { ok: false, code: 'BAD_REQUEST', message: `${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}` };
}
