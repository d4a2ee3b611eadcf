#!/usr/bin/env node
// The `pairlink` executable: loads only the dispatcher; each command loads what it needs.
import { main } from '../cli/main.js';

process.exitCode = await main(process.argv.slice(2));
