import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff";
import { judgeClose } from "./closeCodes";

describe("backoffDelay", () => {
  it("doubles up to the cap, jittered downwards only", () => {
    const options = { firstMs: 500, maxMs: 4000, jitter: 0.5 };
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(a, options, () => 0))).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(backoffDelay(1, options, () => 1)).toBe(500);
  });
});

describe("judgeClose", () => {
  it("resumes after a drop or a server restart", () => {
    expect(judgeClose(1006, "", false).step).toBe("resume");
    expect(judgeClose(1012, "server restarting", false).step).toBe("resume");
  });

  it("sends the person back to sign-in on a refused or expired credential", () => {
    expect(judgeClose(4401, "unauthorized", false).step).toBe("sign_in");
    expect(judgeClose(4440, "", false).step).toBe("sign_in");
  });

  it("retries later when no worker is free, and says so", () => {
    expect(judgeClose(1013, "no worker available", false)).toEqual({
      step: "retry",
      message: "No assistant is available right now. Trying again…",
    });
  });

  it("starts over when the session cannot be resumed, and ends quietly when asked", () => {
    expect(judgeClose(4403, "", false).step).toBe("new_session");
    expect(judgeClose(1006, "", true).step).toBe("ended");
  });
});

describe("going offline", () => {
  it("resumes once the network is back", () => {
    expect(judgeClose(4000, "offline", false)).toEqual({
      step: "resume",
      message: "The network is down. Reconnecting when it is back…",
    });
  });
});
