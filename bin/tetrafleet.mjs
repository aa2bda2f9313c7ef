#!/usr/bin/env node
// Launcher for the `tetrafleet` bin: registers the TypeScript loader from this package's own
// dependencies (so it works from any directory), then runs the CLI.
import { register } from 'tsx/esm/api';

// The SDK's notice about future Node versions would print on every command; it is known and noisy.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./tetrafleet.ts');
