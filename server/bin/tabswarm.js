#!/usr/bin/env node
// Entry of the `tabswarm` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../cli.ts');
