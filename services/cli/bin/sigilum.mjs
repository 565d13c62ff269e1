#!/usr/bin/env node
// The `sigilum` bin: checks the Node version first (an older Node cannot even load the TypeScript entry point).
await import("../../../scripts/require-node24.mjs");
await import("../src/main.ts");
