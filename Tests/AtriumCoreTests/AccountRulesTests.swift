import Foundation
import Testing

@testable import AtriumCore

@Suite struct AccountRulesTests {
    @Test func emailsAreTrimmedAndLowercased() throws {
        #expect(try AccountRules.normalizedEmail("  Ada@Example.COM ") == "ada@example.com")
        #expect(try AccountRules.normalizedEmail("o'neil+tag@mail.example.com") == "o'neil+tag@mail.example.com")
    }

    @Test(arguments: ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "ada@@example.com", "ada@.com",
        // Specials that would end an SMTP path or a header early.
        "<script>alert(1)</script>@x.example", "a>b@example.com", "ada@example.com>", "\"ada\"@example.com", "a,b@example.com", "ada\u{7}@example.com"])
    func invalidEmailsNameTheField(_ email: String) {
        #expect(throws: AtriumError.invalidRequest("Enter a valid email address.", param: "email", code: "invalid_email")) {
            try AccountRules.normalizedEmail(email)
        }
    }

    @Test func passwordsMustFitBcrypt() {
        #expect(throws: AtriumError.invalidRequest("A password needs at least 8 characters.", param: "password", code: "password_too_short")) {
            try AccountRules.validatePassword("short")
        }
        #expect(throws: AtriumError.invalidRequest("A password is at most 72 bytes long.", param: "password", code: "password_too_long")) {
            try AccountRules.validatePassword(String(repeating: "x", count: 73))
        }
        #expect(throws: Never.self) { try AccountRules.validatePassword("long enough") }
    }

    @Test func namesRefuseControlCharacters() {
        #expect(throws: AtriumError.self) { try AccountRules.normalizedName("evil\u{0}name") }
        #expect(throws: AtriumError.self) { try AccountRules.normalizedName("   ") }
        #expect(try! AccountRules.normalizedName("  Ada Lovelace ") == "Ada Lovelace")
    }
}

@Suite struct AttemptThrottleTests {
    @Test func refusesAfterTheLimitUntilTheWindowPasses() throws {
        let throttle = AttemptThrottle(maxFailures: 3, window: 60)
        let start = Date(timeIntervalSince1970: 1_000_000)
        for second in 0..<3 {
            try throttle.check(["email:a"], now: start.addingTimeInterval(Double(second)))
            throttle.recordFailure(["email:a"], now: start.addingTimeInterval(Double(second)))
        }
        #expect(throws: AtriumError.self) { try throttle.check(["email:a"], now: start.addingTimeInterval(10)) }
        #expect(throws: Never.self) { try throttle.check(["email:b"], now: start.addingTimeInterval(10)) }
        #expect(throws: Never.self) { try throttle.check(["email:a"], now: start.addingTimeInterval(61)) }
    }

    @Test func retryAfterCountsDownToTheOldestFailure() {
        let throttle = AttemptThrottle(maxFailures: 1, window: 100)
        let start = Date(timeIntervalSince1970: 0)
        throttle.recordFailure(["ip:1"], now: start)
        #expect(throws: AtriumError.rateLimited("Too many failed login attempts. Try again later.", retryAfterSeconds: 60)) {
            try throttle.check(["ip:1"], now: start.addingTimeInterval(40))
        }
    }
}
