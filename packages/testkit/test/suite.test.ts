import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { suiteFixture } from "../src/suite.ts";

const events: string[] = [];

describe("a suite with a fixture", () => {
  const counter = suiteFixture(
    async () => {
      events.push("start");
      return { count: 0 };
    },
    async (started) => {
      events.push(`stop at ${started.count}`);
    },
  );

  test("its tests read and write the started resource", () => {
    assert.deepEqual(events, ["start"]);
    counter.count += 1;
    assert.equal(counter.count, 1);
  });
});

test("the fixture is stopped once its suite is done, with what the tests wrote", () => {
  assert.deepEqual(events, ["start", "stop at 1"]);
});
