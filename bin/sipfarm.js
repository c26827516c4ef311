#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli to dist/cli (npm run build).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('sipfarm: dist/ is missing — run `npm run build` first');
    process.exit(2);
  }
  throw err;
});
