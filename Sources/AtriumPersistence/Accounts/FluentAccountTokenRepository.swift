import AtriumCore
import FluentKit
import Foundation
import SQLKit

public struct FluentAccountTokenRepository: AccountTokenRepository {
    private let database: AtriumDatabase

    public init(database: AtriumDatabase) { self.database = database }

    public func replace(with token: AccountToken) async throws {
        try await database.transaction { db in
            try await AccountTokenModel.query(on: db)
                .filter(\.$userID == token.userID.raw).filter(\.$purpose == token.purpose.rawValue).delete()
            try await AccountTokenModel(token).create(on: db)
        }
    }

    public func consume(tokenHash: String, purpose: AccountTokenPurpose, now: Date) async throws -> AccountToken? {
        // DELETE … RETURNING: of several callers racing with one link, exactly one gets the row.
        let sql = database.database as! any SQLDatabase
        let rows = try await sql.delete(from: AccountTokenModel.schema)
            .where("token_hash", .equal, tokenHash)
            .returning("token_hash", "user_id", "purpose", "new_email", "created_at", "expires_at")
            .all()
        guard let row = rows.first else { return nil }
        let token = AccountToken(
            tokenHash: try row.decode(column: "token_hash", as: String.self), userID: UserID(raw: try row.decode(column: "user_id", as: UUID.self)),
            purpose: AccountTokenPurpose(rawValue: try row.decode(column: "purpose", as: String.self)) ?? .verifyEmail,
            newEmail: try row.decode(column: "new_email", as: String?.self), createdAt: try row.decode(column: "created_at", as: Date.self),
            expiresAt: try row.decode(column: "expires_at", as: Date.self))
        // A link of another kind, or an expired one, is used up all the same: it was shown where it did not belong.
        guard token.purpose == purpose, token.expiresAt > now else { return nil }
        return token
    }
}
