import { createTestDatabase } from "@sigilum-gw/testkit/postgres";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer, Wait } from "testcontainers";

/**
 * Redis and PostgreSQL for a deployment test. Where a Docker engine answers, testcontainers starts the same
 * images docker-compose.yml runs (redis:7.4-alpine with AOF, postgres:17-alpine); elsewhere (this machine, CI)
 * the loopback servers with a fresh database and a key prefix of our own.
 */

export interface Stores {
  redisUrl: string;
  redisPrefix: string;
  databaseUrl: string;
  /** "testcontainers" or "loopback": said in the test's diagnostics. */
  source: string;
  stop(): Promise<void>;
}

async function dockerAnswers(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function inContainers(): Promise<Stores> {
  const redis: StartedTestContainer = await new GenericContainer("redis:7.4-alpine")
    .withCommand(["redis-server", "--appendonly", "yes"])
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  // The image's init runs a first server without TCP, then restarts it: ready is the second "ready" line.
  const postgres = await new GenericContainer("postgres:17-alpine")
    .withEnvironment({ POSTGRES_USER: "sigilum", POSTGRES_PASSWORD: "sigilum", POSTGRES_DB: "sigilum" })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start()
    .catch(async (error: unknown) => {
      await redis.stop();
      throw error;
    });
  return {
    redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
    redisPrefix: randomPrefix(),
    databaseUrl: `postgres://sigilum:sigilum@${postgres.getHost()}:${postgres.getMappedPort(5432)}/sigilum`,
    source: "testcontainers",
    async stop() {
      await Promise.all([redis.stop(), postgres.stop()]);
    },
  };
}

async function onLoopback(): Promise<Stores> {
  const database = await createTestDatabase("sigilum_compose_");
  const redisPrefix = randomPrefix();
  return {
    redisUrl: REDIS_URL,
    redisPrefix,
    databaseUrl: database.url,
    source: `loopback (database ${database.name}, redis prefix ${redisPrefix})`,
    async stop() {
      await deletePrefix(redisPrefix);
      await database.drop();
    },
  };
}

export async function startStores(): Promise<Stores> {
  return (await dockerAnswers()) ? inContainers() : onLoopback();
}
