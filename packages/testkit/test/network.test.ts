import assert from "node:assert/strict";
import { test } from "node:test";
import { startRecordingServer, unusedPort } from "../src/network.ts";

test("startRecordingServer records each request with its body and lets the handler answer", async () => {
  const server = await startRecordingServer((req, res, body) => {
    res.writeHead(201);
    res.end(`${req.method} ${body.length}`);
  });
  try {
    const res = await fetch(`${server.url}/x?y=1`, {
      method: "POST",
      body: "hello",
      headers: { "x-test": "1" },
    });
    assert.equal(res.status, 201);
    assert.equal(await res.text(), "POST 5");
    assert.equal(server.requests.length, 1);
    const [seen] = server.requests;
    assert.equal(seen?.method, "POST");
    assert.equal(seen?.url, "/x?y=1");
    assert.equal(seen?.headers["x-test"], "1");
    assert.equal(seen?.body, "hello");
  } finally {
    await server.close();
  }
});

test("unusedPort is a loopback port that refuses connections", async () => {
  const port = await unusedPort();
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
});
