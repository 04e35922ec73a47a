import { readFileSync } from 'node:fs';

/** The package version (src/ and dist/ both sit one folder below package.json). */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
