#!/usr/bin/env node
import { runCli } from "./cli.ts";
import { processContext } from "./context.ts";

process.exitCode = await runCli(process.argv.slice(2), processContext());
