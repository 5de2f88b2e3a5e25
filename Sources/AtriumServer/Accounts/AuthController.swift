import AtriumCore
import Foundation
import Hummingbird

/// `/api/auth`: sign-up, login and logout with a session cookie.
struct AuthController {
    let accounts: AccountService
    let lifecycle: AccountLifecycle
    let secureCookies: Bool
    let maxBodyBytes: Int

    struct SignUpRequest: Decodable {
        var email: String
        var password: String
        var name: String
    }

    struct LogInRequest: Decodable {
        var email: String
        var password: String
    }

    func addRoutes(to group: RouterGroup<AtriumRequestContext>) {
        group.post("signup", use: signUp)
        group.post("login", use: logIn)
        group.post("logout", use: logOut)
        group.get("me", use: me)
    }

    @Sendable func signUp(_ request: Request, context: AtriumRequestContext) async throws -> Response {
        let body = try await JSONRequest.decode(SignUpRequest.self, from: request, limit: maxBodyBytes)
        let session = try await accounts.signUp(
            email: body.email, password: body.password, name: body.name, clientAddress: context.clientAddress)
        let language = Language.negotiate(cookie: nil, acceptLanguage: request.headers[.acceptLanguage])
        try? await lifecycle.sendVerification(to: session.user, language: language.rawValue)
        return try await sessionResponse(session, status: .created, context: context)
    }

    @Sendable func logIn(_ request: Request, context: AtriumRequestContext) async throws -> Response {
        let body = try await JSONRequest.decode(LogInRequest.self, from: request, limit: maxBodyBytes)
        let address = context.clientAddress
        let session = try await accounts.logIn(email: body.email, password: body.password, clientAddress: address)
        return try await sessionResponse(session, status: .ok, context: context)
    }

    @Sendable func logOut(_ request: Request, context: AtriumRequestContext) async throws -> Response {
        if let token = request.cookies[SessionMiddleware.cookieName]?.value {
            try await accounts.logOut(sessionToken: token)
        }
        var response = Response(status: .noContent)
        response.setCookie(cookie(value: "", maxAge: 0))
        return response
    }

    @Sendable func me(_ request: Request, context: AtriumRequestContext) async throws -> SessionDTO {
        let context = try UserRequestContext(context: context)
        let organizations = try await accounts.organizations(of: context.user.id)
        return SessionDTO(user: UserDTO(context.user), organizations: organizations.map(OrganizationDTO.init))
    }

    private func sessionResponse(_ session: AccountService.OpenedSession, status: HTTPResponse.Status, context: AtriumRequestContext) async throws -> Response {
        let organizations = try await accounts.organizations(of: session.user.id)
        let dto = SessionDTO(user: UserDTO(session.user), organizations: organizations.map(OrganizationDTO.init))
        var response = try APICoding.response(dto, status: status)
        response.setCookie(cookie(value: session.token, maxAge: Int(session.expiresAt.timeIntervalSinceNow)))
        return response
    }

    private func cookie(value: String, maxAge: Int) -> Cookie {
        SessionMiddleware.cookie(value: value, maxAge: maxAge, secure: secureCookies)
    }
}

/// Reads JSON bodies of the management API with a size limit, naming the offending field on error.
enum JSONRequest {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        let buffer = try await request.collectBody(limit: limit)
        guard buffer.readableBytes > 0 else {
            throw AtriumError.invalidRequest("The request needs a JSON body.")
        }
        guard let body = try? JSONValue.parse(buffer), body.objectValue != nil else {
            throw JSONBodyError.unparsable
        }
        if let field = body.pathOfNUL() {
            throw AtriumError.invalidRequest("'\(field.prefix(80))' holds the NUL character, which no text here may contain.", param: String(field.prefix(80)))
        }
        return try APICoding.decoder.decode(T.self, from: buffer)
    }
}

extension Request {
    /// The whole body, or `payloadTooLarge` when it passes `limit` bytes.
    func collectBody(limit: Int) async throws -> ByteBuffer {
        var request = self
        do {
            return try await request.collectBody(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw AtriumError.payloadTooLarge("The request body is larger than the limit of \(limit) bytes.")
        } catch is NIOTooManyBytesError {
            throw AtriumError.payloadTooLarge("The request body is larger than the limit of \(limit) bytes.")
        }
    }
}

extension APICoding {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }
}

extension SocketAddress {
    var ipAddress: String? {
        switch self {
        case .v4(let address): address.host
        case .v6(let address): address.host
        default: nil
        }
    }
}

import NIOCore
