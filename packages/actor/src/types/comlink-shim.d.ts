// Comlink's .d.ts names DOM types; these stand-ins keep `lib` free of the DOM.
declare global {
  type Transferable = ArrayBuffer | import('node:worker_threads').MessagePort;
  type EventListenerOrEventListenerObject = ((evt: any) => void) | { handleEvent(evt: any): void };
}
export {};
