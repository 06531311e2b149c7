// meta.properties: read, check and write the cluster and node identity of each log directory.
#include "cluster_identity.h"

#include <array>
#include <fstream>
#include <map>
#include <random>

namespace vltava::broker {
namespace {

// 16 random bytes in URL-safe base64 without padding: Kafka's cluster id format (22 characters).
std::string new_cluster_id() {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device random;
  std::array<std::uint8_t, 16> bytes{};
  for (auto& b : bytes) b = static_cast<std::uint8_t>(random());
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const auto b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 0x3f];
  return out;
}

std::map<std::string, std::string> read_meta(const std::filesystem::path& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

}  // namespace

std::string ensure_cluster_identity(const std::vector<std::filesystem::path>& log_dirs, std::int32_t node_id,
                                    std::string& cluster_id) {
  cluster_id.clear();
  for (const auto& dir : log_dirs) {
    const auto meta = read_meta(dir / "meta.properties");
    if (meta.empty()) continue;
    if (auto it = meta.find("node.id"); it != meta.end() && it->second != std::to_string(node_id)) {
      return (dir / "meta.properties").string() + " belongs to node.id=" + it->second +
             ", not node.id=" + std::to_string(node_id);
    }
    if (auto it = meta.find("cluster.id"); it != meta.end()) {
      if (!cluster_id.empty() && cluster_id != it->second) {
        return "log directories belong to different clusters (" + cluster_id + " and " + it->second + ")";
      }
      cluster_id = it->second;
    }
  }
  if (cluster_id.empty()) cluster_id = new_cluster_id();
  for (const auto& dir : log_dirs) {
    const auto path = dir / "meta.properties";
    if (std::filesystem::exists(path)) continue;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::ofstream out(path, std::ios::trunc);
    out << "#\n# Written by Vltava: the cluster and node this directory's data belongs to.\n"
        << "version=1\ncluster.id=" << cluster_id << "\nnode.id=" << node_id << "\n";
    if (!out) return "cannot write " + path.string();
  }
  return {};
}

}  // namespace vltava::broker
