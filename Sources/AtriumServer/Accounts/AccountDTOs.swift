import AtriumCore
import Foundation
import Hummingbird

struct UserDTO: ResponseCodable {
    var object = "user"
    var id: String
    var email: String
    var name: String
    var staffRole: String?
    var createdAt: Date

    init(_ user: User) {
        self.id = user.id.description
        self.email = user.email
        self.name = user.name
        self.staffRole = user.staffRole?.rawValue
        self.createdAt = user.createdAt
    }
}

struct OrganizationDTO: ResponseCodable {
    var object = "organization"
    var id: String
    var name: String
    var personal: Bool
    var role: String
    var createdAt: Date

    init(_ membership: OrganizationMembership) {
        self.id = membership.organization.id.description
        self.name = membership.organization.name
        self.personal = membership.organization.isPersonal
        self.role = membership.role.rawValue
        self.createdAt = membership.organization.createdAt
    }
}

struct MemberDTO: ResponseCodable {
    var object = "organization.member"
    var userId: String
    var email: String
    var name: String
    var role: String
    var joinedAt: Date

    init(_ member: Member) {
        self.userId = member.user.id.description
        self.email = member.user.email
        self.name = member.user.name
        self.role = member.role.rawValue
        self.joinedAt = member.joinedAt
    }
}

struct SessionDTO: ResponseCodable {
    var user: UserDTO
    var organizations: [OrganizationDTO]
}

/// `{"object": "list", "data": [...]}`, as OpenAI lists things.
struct ListDTO<Element: ResponseEncodable & Decodable>: ResponseCodable {
    var object = "list"
    var data: [Element]
}
