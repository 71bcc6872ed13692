// Renders charts out of a Helm chart repository, by name and version, with
// Helm's own Go library (helm-java, the jars of scripts/helm/helm.sh): the
// repository's index.yaml is read, the chart's URL resolved against the
// repository URL and the package downloaded and loaded, the way a Pulumi
// `k8s.helm.v3.Release` with `repositoryOpts.repo` finds its chart. Run by
// `bash scripts/local-cluster/chart-repo.sh template`, which sets HELM_*_HOME
// to a scratch folder first.
//
//   java -cp 'libs/*' RepoTemplate.java <repositoriesYaml> <repoUrl> <kubeVersion> \
//        (<chart> <version> <release> <namespace> <valuesFile>)+
//
// Output as scripts/helm/HelmTemplate.java: each release's manifests after a
// line `#### release <release> <namespace>`. Any Helm error exits 1 with the
// message on stderr.
import com.marcnuri.helm.Helm;
import java.net.URI;
import java.nio.file.Path;

public class RepoTemplate {
  public static void main(String[] args) {
    if (args.length < 8 || (args.length - 3) % 5 != 0) {
      System.err.println("usage: RepoTemplate <repositoriesYaml> <repoUrl> <kubeVersion> (<chart> <version> <release> <namespace> <valuesFile>)+");
      System.exit(2);
    }
    Path repositories = Path.of(args[0]);
    String url = args[1];
    String kubeVersion = args[2];
    String repo = "matih-local";
    try {
      // Downloads and parses index.yaml, as `helm repo add` does.
      Helm.repo().add().withRepositoryConfig(repositories).withName(repo).withUrl(URI.create(url)).call();
    } catch (RuntimeException e) {
      System.err.println("helm repo add " + repo + " " + url + ": " + e.getMessage());
      System.exit(1);
    }
    StringBuilder out = new StringBuilder();
    for (int i = 3; i < args.length; i += 5) {
      String chart = args[i];
      String version = args[i + 1];
      String release = args[i + 2];
      String namespace = args[i + 3];
      Path values = Path.of(args[i + 4]);
      try {
        String manifests = Helm.template(repo + "/" + chart)
            .withVersion(version)
            .withRepositoryConfig(repositories)
            .withName(release)
            .withNamespace(namespace)
            .withKubeVersion(kubeVersion)
            .withValuesFile(values)
            .call();
        out.append("#### release ").append(release).append(' ').append(namespace).append('\n');
        out.append(manifests).append('\n');
      } catch (RuntimeException e) {
        System.err.println("helm template " + release + " " + chart + " --version " + version + " --repo " + url + " -n " + namespace + ": " + e.getMessage());
        System.exit(1);
      }
    }
    System.out.print(out);
    System.out.flush();
  }
}
