/** The npm package `webgpu` (Dawn for Node), used only by the GPU-machine script; not a project dependency. */
declare module 'webgpu' {
  export function create(flags: string[]): unknown;
  export const globals: Record<string, unknown>;
}
