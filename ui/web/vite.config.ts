import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const outDir = resolve(__dirname, '../dist');

// The app is built into ../dist, which the Go package embeds. Asset URLs are
// relative ("./assets/..."): the Go handler writes a <base href> for the
// server's base path into index.html. The build empties dist and puts back
// the .gitkeep that keeps the folder (and so the Go embed) in the repository.
export default defineConfig({
  base: './',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    chunkSizeWarningLimit: 400,
  },
  plugins: [
    {
      name: 'scry-keep-dist',
      closeBundle() {
        writeFileSync(resolve(outDir, '.gitkeep'), '');
      },
    },
  ],
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
