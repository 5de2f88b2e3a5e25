import Foundation
import Hummingbird
import NIOCore
import Yams

/// Serves the API contract (`openapi.yaml`, bundled) as `/openapi.json` and `/openapi.yaml`.
struct OpenAPIController {
    let yaml: String
    let json: ByteBuffer
    let paths: ContractPaths

    init() throws {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw ConfigError(description: "openapi.yaml is missing from the build")
        }
        yaml = try String(contentsOf: url, encoding: .utf8)
        let contract = try YAMLDecoder().decode(JSONValue.self, from: yaml)
        json = ByteBuffer(data: contract.encoded())
        paths = ContractPaths(contract: contract)
    }

    func addRoutes(to router: Router<AtriumRequestContext>) {
        let json = self.json
        let yaml = self.yaml
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: json))
        }
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: yaml)))
        }
    }
}
