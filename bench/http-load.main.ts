import { httpLoad, type HttpLoadOptions } from './http-load.js';

/**
 * The HTTP bench's load generator in a process of its own: `node dist/bench/http-load.main.js '<options>'`
 * (`HttpLoadOptions` as JSON) starts the app, loads it, stops it, and prints the figures as one JSON line.
 * The app's standard error is passed on; its log is read and dropped.
 */
const options = JSON.parse(process.argv[2] ?? '') as HttpLoadOptions;
const figures = await httpLoad(options);
console.log(JSON.stringify(figures));
process.exit(0);
