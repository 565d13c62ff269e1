import { after, before } from "node:test";

/**
 * Starts a resource in a `before` hook of the calling suite and stops it in an `after` hook. The suite declares its
 * tests before the resource exists, so what comes back stands in for it: every property read or written goes to
 * the started resource (a test may even swap one of its fields, and `stop` sees the swap).
 */
export function suiteFixture<T extends object>(
  start: () => Promise<T>,
  stop: (resource: T) => Promise<unknown>,
): T {
  let resource: T | undefined;
  const started = (): T => {
    if (!resource) throw new Error("suite fixture used before its before hook started it");
    return resource;
  };
  before(async () => {
    resource = await start();
  });
  after(async () => {
    if (resource) await stop(resource);
  });
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(started(), key),
    set: (_, key, value) => Reflect.set(started(), key, value),
  });
}
